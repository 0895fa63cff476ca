# Tau-normalised classifier (Kang et al., ICLR 2020) on the CE baseline:
# test a CE checkpoint with each class row w_c / ||w_c||^tau, no retraining.
# tau=1 here; sweep it with --cfg-options model.head.tau_norm=T on a
# validation split where the dataset has one.
_base_ = './ce_r32_cifar10-lt-100.py'

model = dict(head=dict(type='LongTailLinearClsHead', tau_norm=1.0))
