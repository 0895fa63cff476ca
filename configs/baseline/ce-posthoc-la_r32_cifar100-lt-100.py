# Post-hoc logit adjustment (Menon et al., ICLR 2021) of the CE baseline,
# ResNet-32, CIFAR-100-LT-100: test a CE checkpoint with z - tau * log(prior), no
# retraining: python tools/test.py THIS_CONFIG CE_CHECKPOINT
_base_ = './ce_r32_cifar100-lt-100.py'

model = dict(head=dict(type='LongTailLinearClsHead', posthoc_tau=1.0))
