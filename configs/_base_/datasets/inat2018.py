# iNaturalist 2018: 437.5K training images over 8142 species (IF=500).
# data/inaturalist holds train_val2018/ and the two split lists; the official
# val set is the test set, as in the literature.
_base_ = './imagenet_lt.py'

data_root = 'data/inaturalist'
data_preprocessor = dict(num_classes=8142)

train_dataloader = dict(
    dataset=dict(data_root=data_root, ann_file='iNaturalist18_train.txt',
                 num_classes=8142))
val_dataloader = dict(
    dataset=dict(data_root=data_root, ann_file='iNaturalist18_val.txt',
                 num_classes=8142))
test_dataloader = val_dataloader
