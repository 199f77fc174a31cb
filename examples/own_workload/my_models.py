"""A user's own models, kept outside the toolkit's package: what ``model.name`` names.

Written as the Flax NNX tutorials write models: every layer takes ``rngs``,
``nnx.BatchNorm`` and ``nnx.Dropout`` are switched by ``model.train()`` /
``model.eval()`` (the toolkit does that: train mode in the step, eval mode in
evaluation), and nothing here knows about the toolkit. Each factory has the
signature the toolkit calls, ``factory(input_shape, num_classes, rngs, **kwargs)``,
where ``model.kwargs`` in the config supplies ``**kwargs``:

- ``my_models:resnet``: a small residual CNN for images ``[H, W, C]`` (any ``C``):
  a 3x3 stem, ``blocks`` residual blocks (conv, BatchNorm, ReLU, conv, BatchNorm, plus
  the input), 2x2 average pooling, dropout and a linear classifier on the flattened
  features (tiny images keep their layout; a large-image ResNet pools globally).
- ``my_models:tabular_mlp``: an MLP for tabular rows ``[F]``: dense layers with ReLU
  and dropout after each.

The configs name them as ``my_models:resnet``; the commands find this module beside
the configs (a config's folder is searched first; see README.md).
"""

from __future__ import annotations

from collections.abc import Sequence

from flax import nnx


class ResidualBlock(nnx.Module):
  """``relu(x + bn(conv(relu(bn(conv(x))))))``, the channel count unchanged."""

  def __init__(self, channels: int, bn_momentum: float, *, rngs: nnx.Rngs):
    self.conv1 = nnx.Conv(channels, channels, kernel_size=(3, 3), use_bias=False, rngs=rngs)
    self.bn1 = nnx.BatchNorm(channels, momentum=bn_momentum, rngs=rngs)
    self.conv2 = nnx.Conv(channels, channels, kernel_size=(3, 3), use_bias=False, rngs=rngs)
    self.bn2 = nnx.BatchNorm(channels, momentum=bn_momentum, rngs=rngs)

  def __call__(self, x):
    y = nnx.relu(self.bn1(self.conv1(x)))
    return nnx.relu(x + self.bn2(self.conv2(y)))


class ResNet(nnx.Module):
  """A small residual CNN: stem, residual blocks, 2x2 average pooling, dropout, linear."""

  def __init__(self, input_shape: Sequence[int], num_classes: int, width: int, blocks: int,
               dropout: float, bn_momentum: float, *, rngs: nnx.Rngs):
    height, width_px, in_channels = input_shape
    self.stem = nnx.Conv(in_channels, width, kernel_size=(3, 3), use_bias=False, rngs=rngs)
    self.bn = nnx.BatchNorm(width, momentum=bn_momentum, rngs=rngs)
    self.blocks = nnx.List([ResidualBlock(width, bn_momentum, rngs=rngs)
                            for _ in range(blocks)])
    self.dropout = nnx.Dropout(dropout, rngs=rngs)
    self.head = nnx.Linear((height // 2) * (width_px // 2) * width, num_classes, rngs=rngs)

  def __call__(self, x):
    x = nnx.relu(self.bn(self.stem(x)))
    for block in self.blocks:
      x = block(x)
    x = nnx.avg_pool(x, window_shape=(2, 2), strides=(2, 2))
    return self.head(self.dropout(x.reshape(x.shape[0], -1)))


def resnet(input_shape: Sequence[int], num_classes: int, rngs: nnx.Rngs, width: int = 16,
           blocks: int = 2, dropout: float = 0.1, bn_momentum: float = 0.9) -> ResNet:
  """The residual CNN for images of ``input_shape`` ``[H, W, C]``.

  Args:
    input_shape: one example's shape, ``[H, W, C]`` (from the data).
    num_classes: the number of classes (from the data).
    rngs: the toolkit's ``nnx.Rngs`` (from ``train.seed``).
    width: channels of the stem and of every block.
    blocks: residual blocks.
    dropout: the dropout rate before the classifier.
    bn_momentum: BatchNorm's running-average momentum (0.9: short runs settle fast).

  Returns:
    The model; ``model(x)`` gives logits ``[batch, num_classes]``.
  """
  if len(input_shape) != 3:
    raise ValueError(f"resnet takes images [H, W, C], got examples of shape {input_shape}")
  return ResNet(tuple(input_shape), num_classes, width, blocks, dropout, bn_momentum,
                rngs=rngs)


class TabularMLP(nnx.Module):
  """Dense layers with ReLU and dropout, then a linear classifier."""

  def __init__(self, num_features: int, num_classes: int, hidden: Sequence[int],
               dropout: float, *, rngs: nnx.Rngs):
    sizes = [num_features, *hidden]
    self.layers = nnx.List([nnx.Linear(a, b, rngs=rngs)
                            for a, b in zip(sizes[:-1], sizes[1:], strict=True)])
    self.dropout = nnx.Dropout(dropout, rngs=rngs)
    self.head = nnx.Linear(sizes[-1], num_classes, rngs=rngs)

  def __call__(self, x):
    for layer in self.layers:
      x = self.dropout(nnx.relu(layer(x)))
    return self.head(x)


def tabular_mlp(input_shape: Sequence[int], num_classes: int, rngs: nnx.Rngs,
                hidden: Sequence[int] = (64, 64), dropout: float = 0.1) -> TabularMLP:
  """The MLP for tabular rows of ``input_shape`` ``[F]``.

  Args:
    input_shape: one example's shape, ``[F]`` (from the data).
    num_classes: the number of classes (from the data).
    rngs: the toolkit's ``nnx.Rngs`` (from ``train.seed``).
    hidden: the hidden layers' widths.
    dropout: the dropout rate after each hidden layer.

  Returns:
    The model; ``model(x)`` gives logits ``[batch, num_classes]``.
  """
  if len(input_shape) != 1:
    raise ValueError(f"tabular_mlp takes rows [F], got examples of shape {input_shape}")
  return TabularMLP(input_shape[0], num_classes, tuple(hidden), dropout, rngs=rngs)
