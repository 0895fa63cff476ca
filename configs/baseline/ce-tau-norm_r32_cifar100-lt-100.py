# Tau-normalised classifier (Kang et al., ICLR 2020) on the CE baseline,
# ResNet-32, CIFAR-100-LT-100: test a CE checkpoint with each class row
# w_c / ||w_c||^tau, no retraining. tau=1 here; choose it with
# --cfg-options model.head.tau_norm=T on a validation split.
_base_ = './ce_r32_cifar100-lt-100.py'

model = dict(head=dict(type='LongTailLinearClsHead', tau_norm=1.0))
