from .data_preprocessor import BatchCropFlipDataPreprocessor

__all__ = ['BatchCropFlipDataPreprocessor']
