"""The c4a decode as vLLM would run it: index_topk then sparse_attention, replayed from a CUDA graph, with
programmatic dependent launch (PDL) between the kernels on and off. GPU only: PDL and graphs need one."""

from __future__ import annotations

import pytest
import torch

from wholerepo.kernels import _launch
from wholerepo.kernels import reference as ref
from wholerepo.kernels.config import AttentionConfig
from wholerepo.kernels.index_topk import index_topk
from wholerepo.kernels.inputs import make_decode_inputs
from wholerepo.kernels.sparse_attention import sparse_attention


def _decode(inp, cfg):
    sel = index_topk(inp.index_q, inp.index_w, inp.index_k, inp.positions, cfg.index_topk, cfg.ratio)
    return sparse_attention(inp.q, inp.window_kv, inp.comp_kv, sel, inp.positions, inp.sink, inp.inv_freq, cfg)


@pytest.mark.gpu
@pytest.mark.parametrize("pdl", [True, False])
@pytest.mark.parametrize(("batch", "context"), [(1, 1 << 20), (8, 131072 + 5)])
def test_graph_replay_matches_the_reference(pdl, batch, context, assert_rel_close, monkeypatch):
    monkeypatch.setattr(_launch, "PDL_ENABLED", pdl)
    cfg = AttentionConfig.from_name("flash")
    inp = make_decode_inputs(cfg, batch, context, device="cuda", seed=21, ragged=True)
    eager = _decode(inp, cfg)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        replayed = _decode(inp, cfg)
    replayed.fill_(float("nan"))  # poison: only the replays below may fill it
    for _ in range(3):  # the fused finish's per-row counters must come back to zero after every replay
        graph.replay()
    torch.cuda.synchronize()
    want_idx = ref.index_topk(inp.index_q, inp.index_w, inp.index_k, inp.positions, cfg.index_topk, cfg.ratio)
    want = ref.sparse_attention(inp.q, inp.window_kv, inp.comp_kv, want_idx, inp.positions, inp.sink,
                                inp.inv_freq, cfg)
    assert_rel_close(replayed, want, 1e-2)
    assert_rel_close(eager, want, 1e-2)
