# Post-hoc logit adjustment (Menon et al., ICLR 2021) of the CE baseline:
# test a CE checkpoint with z - tau * log(prior), no retraining:
#   python tools/test.py configs/baseline/ce-posthoc-la_r32_cifar10-lt-100.py \
#       work_dirs/ce_r32_cifar10-lt-100/epoch_400.pth
_base_ = './ce_r32_cifar10-lt-100.py'

model = dict(head=dict(type='LongTailLinearClsHead', posthoc_tau=1.0))
