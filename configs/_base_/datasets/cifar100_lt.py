_base_ = './cifar10_lt.py'

data_root = 'data/cifar100'
data_preprocessor = dict(
    num_classes=100,
    mean=[129.304, 124.070, 112.434],
    std=[68.170, 65.392, 70.418])

train_dataloader = dict(
    dataset=dict(dataset=dict(type='CIFAR100Auto', data_root=data_root)))
val_dataloader = dict(
    dataset=dict(type='CIFAR100Auto', data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(topk=(1, 5))
test_evaluator = val_evaluator
