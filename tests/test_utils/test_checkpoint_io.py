"""mmace.utils.checkpoint_io: a corrupt checkpoint is named in one clear
error (issue 9, case 4)."""
import pytest

import mmace  # noqa: F401  (checkpoints load with weights_only=True)
from mmace.utils.checkpoint_io import read_checkpoint
from mmace.utils.errors import CheckpointError

from conftest import corrupt_checkpoint


@pytest.mark.parametrize('kind', ['empty', 'truncated', 'not-a-checkpoint'])
def test_read_checkpoint_names_corrupt_file(kind, trained_digits, tmp_path):
    bad = corrupt_checkpoint(kind, trained_digits.ace.ckpt(1),
                             tmp_path / 'bad.pth')
    with pytest.raises(CheckpointError, match='not a readable checkpoint') \
            as info:
        read_checkpoint(str(bad))
    assert str(bad) in str(info.value)
