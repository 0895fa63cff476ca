"""Export a trained classifier (ACE or not) to ONNX, ACE head folded.

The exported graph takes raw pixels and returns class scores:

- input ``input``: float32 ``[batch, 3, H, W]``, pixel values 0-255 in the
  channel order the config's test pipeline produces (what ``PackInputs``
  gives); the data preprocessor's channel flip and mean/std normalisation
  are inside the graph. Batch, height and width are dynamic.
- output ``scores``: float32 ``[batch, C]``, the softmax of the logits, i.e.
  mmpretrain's ``pred_score``.

An :class:`ACEHead` is replaced by the single ``nn.Linear`` of
:func:`mmace.models.ace.fold_ace_head` (K LWS classifiers, Eq. 2
rescaling and Eq. 3 averaging in one matrix product); other heads are
exported as they are. With onnxruntime installed, the file is then checked
against the unfolded PyTorch model on random pixels.

Example:
    python tools/deployment/pytorch2onnx.py \\
        configs/ace/ace_r32_cifar10-lt-100.py epoch_30.pth ace.onnx
"""
import argparse
import os.path as osp

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint


def parse_args():
    parser = argparse.ArgumentParser(
        description='Export a classifier to ONNX (ACE head folded)')
    parser.add_argument('config', help='config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('out', help='the .onnx file to write')
    parser.add_argument(
        '--shape', type=int, nargs=2, default=[32, 32], metavar=('H', 'W'),
        help='height and width of the example input used for tracing and '
        'the check (the exported sizes stay dynamic); default 32 32')
    parser.add_argument('--opset', type=int, default=18,
                        help='ONNX opset version (default 18)')
    parser.add_argument(
        '--no-fold', action='store_true',
        help='export the ACE head unfolded (K classifiers + aggregation)')
    parser.add_argument('--no-check', action='store_true',
                        help='skip the onnxruntime check')
    parser.add_argument(
        '--test-set', action='store_true',
        help='also check on the whole test set of the config '
        '(test_dataloader.dataset, through its pipeline)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args()


class DeployClassifier(nn.Module):
    """Raw pixels ``[N, 3, H, W]`` -> softmax scores ``[N, C]``.

    Args:
        model (nn.Module): A built mmpretrain ``ImageClassifier`` in eval
            mode, with its weights loaded.
        fold (bool): Replace an ACE head by its folded ``nn.Linear``.
            Defaults to True.
    """

    def __init__(self, model: nn.Module, fold: bool = True):
        super().__init__()
        pre = model.data_preprocessor
        self.to_rgb = bool(getattr(pre, 'to_rgb', False))
        self.normalize = bool(getattr(pre, '_enable_normalize', False))
        if self.normalize:
            self.register_buffer('mean', pre.mean.clone().view(1, -1, 1, 1))
            self.register_buffer('std', pre.std.clone().view(1, -1, 1, 1))
        self.backbone = model.backbone
        self.neck = model.neck if model.with_neck else None
        self.head = model.head
        self.fc = None
        if fold and hasattr(model.head, 'target_masks'):
            from mmace.models.ace import fold_ace_head
            self.fc = fold_ace_head(model.head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.to_rgb:
            x = x[:, [2, 1, 0], ...]
        if self.normalize:
            x = (x - self.mean) / self.std
        feats = self.backbone(x)
        if self.neck is not None:
            feats = self.neck(feats)
        if self.fc is not None:
            logits = self.fc(torch.cat(feats, dim=1))
        else:
            logits = self.head(feats)
        return logits.softmax(dim=-1)


def build_model(config, checkpoint, cfg_options=None):
    """The classifier of ``config`` with ``checkpoint`` loaded, in eval."""
    import mmace  # noqa: F401  registers mmace's modules into mmpretrain
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    # As mmengine's Runner does: a top-level data_preprocessor is the model's.
    if cfg.get('data_preprocessor') is not None:
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    head = cfg.model.get('head', {})
    if head.get('class_counts', None) == 'auto':
        # The checkpoint holds the ACE head's counts and target masks.
        head.class_counts = None
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    return model.eval()


def reference_scores(model, pixels: torch.Tensor) -> torch.Tensor:
    """PyTorch scores as mmpretrain computes them (preprocessor, head)."""
    with torch.no_grad():
        data = model.data_preprocessor(
            dict(inputs=list(pixels)), training=False)
        return model(data['inputs'], mode='tensor').softmax(dim=-1)


def export(deploy: nn.Module, out: str, shape, opset: int) -> None:
    """Write ``deploy`` to ``out`` with dynamic batch, height and width."""
    # torch.export specialises a dimension of size 1: trace with 2.
    example = torch.rand(2, 3, *shape) * 255
    dims = {
        0: torch.export.Dim('batch'),
        2: torch.export.Dim.AUTO,
        3: torch.export.Dim.AUTO
    }
    torch.onnx.export(
        deploy, (example, ),
        out,
        input_names=['input'],
        output_names=['scores'],
        dynamic_shapes={'x': dims},
        opset_version=opset,
        dynamo=True,
        verbose=False)


def check(out: str, model: nn.Module, shape) -> bool:
    """Compare onnxruntime with the unfolded PyTorch model; print it."""
    import onnxruntime as ort
    session = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    gen = torch.Generator().manual_seed(0)
    ok = True
    print('onnxruntime vs the PyTorch model (mmpretrain preprocessing, '
          'head not folded), random pixels:')
    for n, (h, w) in ((1, shape), (5, shape), (3, (shape[0] * 2,
                                                   shape[1] * 2))):
        pixels = torch.rand(n, 3, h, w, generator=gen) * 255
        ref = reference_scores(model, pixels).numpy()
        got = session.run(None, {'input': pixels.numpy()})[0]
        diff = float(np.abs(got - ref).max())
        same = int((got.argmax(1) == ref.argmax(1)).sum())
        ok &= diff <= 1e-4 and same == n
        print(f'  batch {n} x 3 x {h} x {w}: max |score diff| {diff:.2e}, '
              f'same top-1 {same}/{n}')
    return ok


def check_test_set(out: str, model: nn.Module, cfg: Config) -> bool:
    """The same check on every image of the config's test set."""
    import onnxruntime as ort
    from mmpretrain.registry import DATASETS
    session = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    fold = hasattr(model.head, 'target_masks')
    if fold:
        from mmace.models.ace import fold_ace_head
        fc = fold_ace_head(model.head)
    d_ort = d_fold = 0.
    same_ort = same_fold = 0
    for start in range(0, len(dataset), 250):
        pixels = torch.stack([
            dataset[i]['inputs']
            for i in range(start, min(start + 250, len(dataset)))
        ])
        with torch.no_grad():
            data = model.data_preprocessor(
                dict(inputs=list(pixels)), training=False)
            feats = model.extract_feat(data['inputs'])
            logits = model.head(feats)
            if fold:
                folded = fc(torch.cat(feats, dim=1))
                d_fold = max(d_fold, (folded - logits).abs().max().item())
                same_fold += int((folded.argmax(1) == logits.argmax(1)).sum())
        ref = logits.softmax(dim=-1).numpy()
        got = session.run(None, {'input': pixels.float().numpy()})[0]
        d_ort = max(d_ort, float(np.abs(got - ref).max()))
        same_ort += int((got.argmax(1) == ref.argmax(1)).sum())
    n = len(dataset)
    print(f'test set ({n} images, the config\'s test pipeline):')
    if fold:
        print(f'  folded head vs ACEHead: max |logit diff| {d_fold:.2e}, '
              f'same top-1 {same_fold}/{n}')
    print(f'  onnxruntime vs PyTorch: max |score diff| {d_ort:.2e}, same '
          f'top-1 {same_ort}/{n}')
    return d_ort <= 1e-4 and same_ort == n


def main():
    args = parse_args()
    model = build_model(args.config, args.checkpoint, args.cfg_options)
    deploy = DeployClassifier(model, fold=not args.no_fold).eval()
    export(deploy, args.out, args.shape, args.opset)

    size = osp.getsize(args.out) / 2**20
    pre = ('channels flipped to RGB, ' if deploy.to_rgb else '') + (
        'mean/std normalised inside' if deploy.normalize else
        'no normalisation')
    print(f'\nwrote {args.out} ({size:.2f} MiB, opset {args.opset})')
    print(f'  input  "input":  float32 [batch, 3, H, W], pixels 0-255 '
          f'({pre})')
    print(f'  output "scores": float32 [batch, {model.head.num_classes}], '
          'softmax')
    if deploy.fc is not None:
        head = model.head
        factors = head.rescale_factors()
        factors = 'none' if factors is None else ' '.join(
            f'{f:.4f}' for f in factors.tolist())
        print(f'  ACE head folded: {head.num_experts} LWS classifiers '
              f'({head.in_channels} features each), aggregation '
              f'"{head.aggregation}", Eq. 2 factors {factors} -> '
              f'Linear({deploy.fc.in_features}, {deploy.fc.out_features})')
    if args.no_check:
        return
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        print('onnxruntime is not installed: check skipped '
              '(pip install -r requirements/deploy.txt)')
        return
    ok = check(args.out, model, args.shape)
    if args.test_set:
        cfg = Config.fromfile(args.config)
        if args.cfg_options:
            cfg.merge_from_dict(args.cfg_options)
        ok &= check_test_set(args.out, model, cfg)
    if not ok:
        raise SystemExit('onnxruntime disagrees with PyTorch (max |diff| '
                         '> 1e-4 or a different top-1)')


if __name__ == '__main__':
    main()
