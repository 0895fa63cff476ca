from .ace_backbone import ACEBackbone
from .cifar_resnet import CIFARResNet
from .resnet10 import ResNet10

__all__ = ['ACEBackbone', 'CIFARResNet', 'ResNet10']
