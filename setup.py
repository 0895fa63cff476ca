import shutil
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).parent
# What `mim` reads from an installed OpenMMLab package's `.mim/` folder:
# the model index (`mim search mmace`), the configs and the tools.
MIM_FILES = ('model-index.yml', 'configs', 'tools')


def parse_requirements(name):
    lines = (HERE / 'requirements' / name).read_text().splitlines()
    return [l.strip() for l in lines if l.strip() and not l.startswith(('#', '-r'))]


class BuildPyWithMim(build_py):
    """build_py that also ships ``MIM_FILES`` as ``mmace/.mim/``.

    Copied into the build folder only, so the source tree stays clean. An
    editable install has no build folder: ``mim search`` needs a regular
    install (mim 0.3 looks beside the installed metadata).
    """

    def run(self):
        super().run()
        if getattr(self, 'editable_mode', False):
            return
        target = Path(self.build_lib) / 'mmace' / '.mim'
        for name in MIM_FILES:
            src, dst = HERE / name, target / name
            if src.is_dir():
                shutil.copytree(
                    src, dst, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
            elif src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, dst)


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
    # The package's own code needs 3.8 (tests/test_project/test_setup.py
    # parses it as 3.8); requirements/pinned.txt, the verified stack the
    # README installs, needs 3.11.
    python_requires='>=3.8',
    classifiers=[
        'License :: OSI Approved :: Apache Software License',
        'Operating System :: OS Independent',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3 :: Only',
        'Programming Language :: Python :: 3.8',
        'Programming Language :: Python :: 3.9',
        'Programming Language :: Python :: 3.10',
        'Programming Language :: Python :: 3.11',
        'Programming Language :: Python :: 3.12',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    install_requires=parse_requirements('runtime.txt'),
    extras_require=dict(
        mim=parse_requirements('mminstall.txt'),
        deploy=parse_requirements('deploy.txt'),
        det=parse_requirements('det.txt'),
        seg=parse_requirements('seg.txt'),
        tests=parse_requirements('tests.txt') +
        parse_requirements('deploy.txt') + parse_requirements('det.txt') +
        parse_requirements('seg.txt')),
    cmdclass=dict(build_py=BuildPyWithMim),
    license='Apache-2.0',
)
