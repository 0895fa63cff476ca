# ACE as its authors ran it (winterxx/ACE, configs/cifar100_im100.yaml):
# CIFAR-100-LT-100, ResNet-32, 3 experts. Paper Table 2: 49.4 top-1.
# Differs from ../ace_r32_cifar100-lt-100.py (the paper's text) in the
# planner (sample shares [0.3, 0.03]: experts 2 and 3 start at class ranks 25
# and 68, not 33 and 66), the complement-loss form, the Eq. 2 read-out (see
# ace-authors_r32_cifar10-lt-100.py) and the recipe: 280 epochs, lr 0.2,
# weight decay 5e-4, x0.1 at 200 and 240, no warm-up and no Mixup (the
# yaml's combiner is 'default' for all 280 epochs).
_base_ = ['../ace_r32_cifar100-lt-100.py', '../../_base_/ace_authors.py']

model = dict(head=dict(_base_.authors_head, share_thresholds=[0.3, 0.03]))
data_preprocessor = dict(batch_augments=None)
optim_wrapper = dict(optimizer=dict(_base_.authors_cifar_optimizer, lr=0.2))
param_scheduler = _base_.authors_cifar_param_scheduler[1:]  # no warm-up
train_cfg = dict(max_epochs=280)
# No Mixup, so nothing to switch off.
custom_hooks = [
    h for h in _base_.custom_hooks if h.type != 'SwitchOffBatchAugHook'
]
