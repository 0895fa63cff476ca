# Settings of the ACE authors' release (github winterxx/ACE) shared by the
# configs that rerun it (configs/ace/authors/ and
# configs/baseline/ce_r32_cifar10-lt-100_280e.py). Each of those keeps its own
# parent config and takes these with _base_.<name>: a second parent could not
# set the same keys again (mmengine refuses keys set by two bases).

# The ACE head as the release builds it: experts by sample share (the
# thresholds, TRAIN.OPTIMIZER.EXPERT, differ per yaml), the released
# ResCELoss complement term (Frobenius norm / |IC|), and valid_model's Eq. 2
# read-out: the mean plain row norm of expert 1 over that of expert i on its
# target rows, on the weights without the LWS scale.
authors_head = dict(
    planner='share',
    loss=dict(
        type='ACELoss',
        complement=dict(type='ComplementLoss', form='norm')),
    rescale='plain',
    norm_reduce='mean',
    rescale_inverse=True,
    norm_weight='raw')

# The CIFAR-LT schedule of lib/config/cifar10_im100.yaml: lr 0.1, weight
# decay 5e-4, 10 warm-up epochs, x0.1 at epochs 200 and 240 (of 280).
authors_cifar_optimizer = dict(lr=0.1, weight_decay=5e-4)
authors_cifar_param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=10,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[200, 240],
         gamma=0.1),
]

# The schedule of the ImageNet-LT and iNaturalist ResNet-50 yamls: 5 warm-up
# epochs from 0.2 of the lr, x0.1 at epochs 140 and 180 (of 220).
authors_imagenet_param_scheduler = [
    dict(type='LinearLR', start_factor=0.2, by_epoch=True, begin=0, end=5,
         convert_to_iter_based=True),
    dict(type='MultiStepLR', by_epoch=True, milestones=[140, 180],
         gamma=0.1),
]
