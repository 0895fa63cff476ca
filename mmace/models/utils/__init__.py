from .ace import (ace_losses, aggregate_logits, expert_probs, expert_shares,
                  lr_scales, plan_target_masks, rescale_factors)
from .data_preprocessor import BatchCropFlipDataPreprocessor

__all__ = [
    'BatchCropFlipDataPreprocessor', 'ace_losses', 'aggregate_logits',
    'expert_probs', 'expert_shares', 'lr_scales', 'plan_target_masks',
    'rescale_factors'
]
