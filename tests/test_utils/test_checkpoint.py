"""mmace.utils.checkpoint: mmengine's checkpoints load with torch's
``weights_only=True`` default once mmace is imported."""
import torch

import mmace  # noqa: F401  (registers the safe globals)


def test_checkpoints_load_with_weights_only_default(tmp_path):
    """torch>=2.6 loads with weights_only=True; importing mmace allows it."""
    from mmengine.logging import HistoryBuffer, MessageHub
    hub = MessageHub('ckpt-test')
    hub.update_scalar('train/loss', 1.5)
    path = tmp_path / 'x.pth'
    torch.save({'message_hub': hub.state_dict(), 'meta': {'seed': 0}}, path)
    loaded = torch.load(path, weights_only=True)
    assert isinstance(loaded['message_hub']['log_scalars']['train/loss'],
                      HistoryBuffer)
