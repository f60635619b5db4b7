"""vLLM's KV cache tensors as a Handoff `EngineLayout`: read from the tensors and the model config, never
assumed."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from ..layout import Arrangement, EngineLayout


def engine_layout(kv_caches: Dict[str, Any], model: str, num_blocks: int, block_size: int, kv_heads: int,
                  head_dim: int) -> Tuple[EngineLayout, List[Any]]:
    """The layout of `kv_caches` (layer name → tensor, in layer order) and the tensors to register, one per layer.

    Two layouts are understood, both with whole blocks moved:
    - block-major `[num_blocks, ...]` (vLLM's CPU backend `[blocks, kv_heads, block_size, 2 * head_dim]`, FlashInfer
      `[blocks, 2, ...]`): one block of one layer is one contiguous run of K and V, registered as a fused pair;
    - K/V-major `[2, num_blocks, ...]` (FlashAttention): every K block, then every V block.
    Raises ValueError when a tensor is not contiguous, the layers differ, or the bytes contradict the geometry.
    """
    if not kv_caches:
        raise ValueError("vLLM registered no KV cache tensors")
    tensors = list(kv_caches.values())
    first = tensors[0]
    for name, tensor in kv_caches.items():
        if not tensor.is_contiguous():
            raise ValueError(f"KV cache {name} is not contiguous (strides {tuple(tensor.stride())})")
        if tuple(tensor.shape) != tuple(first.shape) or tensor.dtype != first.dtype:
            raise ValueError(f"KV cache {name} is {tuple(tensor.shape)} {tensor.dtype}, layer 0 is "
                             f"{tuple(first.shape)} {first.dtype}: every layer must be alike")
        if tensor.device.type not in ("cpu", "cuda"):
            raise ValueError(f"KV cache {name} is on {tensor.device}, which Handoff does not register")
    shape = tuple(first.shape)
    if shape[0] == num_blocks:
        arrangement = Arrangement.FUSED
    elif len(shape) > 1 and shape[0] == 2 and shape[1] == num_blocks:
        arrangement = Arrangement.SPLIT
    else:
        raise ValueError(f"KV cache shape {shape} has no dimension of {num_blocks} blocks where Handoff expects it")
    dtype_bytes = first.element_size()
    layout = EngineLayout(model=model, layers=len(tensors), kv_heads=kv_heads, head_dim=head_dim,
                          dtype_bytes=dtype_bytes, block_tokens=block_size, num_blocks=num_blocks,
                          arrangement=arrangement, kinds_per_block=2)
    expected = 2 * num_blocks * block_size * kv_heads * head_dim * dtype_bytes
    actual = first.numel() * dtype_bytes
    if actual != expected:
        raise ValueError(f"a KV layer holds {actual} B, but {num_blocks} blocks of {block_size} tokens × {kv_heads} "
                         f"KV heads × head dim {head_dim} × 2 (K, V) × {dtype_bytes} B are {expected} B")
    return layout, tensors
