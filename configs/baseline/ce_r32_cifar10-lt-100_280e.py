# Cross-entropy, ResNet-32, CIFAR-10-LT-100, on the schedule of the ACE
# authors' release (lib/config/cifar10_im100.yaml, as in
# ../ace/authors/ace-authors_r32_cifar10-lt-100.py): 280 epochs, lr 0.1,
# weight decay 5e-4, 10 warm-up epochs, x0.1 at epochs 200 and 240. The CE
# row of the full-schedule comparison in configs/ace/README.md.
_base_ = ['./ce_r32_cifar10-lt-100.py', '../_base_/ace_authors.py']

optim_wrapper = dict(optimizer=_base_.authors_cifar_optimizer)
param_scheduler = _base_.authors_cifar_param_scheduler
train_cfg = dict(max_epochs=280)
