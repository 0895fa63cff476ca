from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def parse_requirements(name):
    lines = (HERE / 'requirements' / name).read_text().splitlines()
    return [l.strip() for l in lines if l.strip() and not l.startswith(('#', '-r'))]


def get_version():
    scope = {}
    exec((HERE / 'mmace' / 'version.py').read_text(), scope)
    return scope['__version__']


setup(
    name='mmace',
    version=get_version(),
    description='ACE (Ally Complementary Experts) long-tailed recognition '
    'for mmpretrain',
    long_description=(HERE / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['mmace', 'mmace.*']),
    python_requires='>=3.8',
    install_requires=parse_requirements('runtime.txt'),
    extras_require=dict(
        mim=parse_requirements('mminstall.txt'),
        tests=parse_requirements('tests.txt')),
    license='Apache-2.0',
)
