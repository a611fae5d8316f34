from functools import partial

import torch
from sae_lens import SAE
from sae_lens.saes.transcoder import Transcoder

from workbench.circuits.transcoders import (
    TranscoderTrainConfig,
    new_transcoder,
    pair_stream,
    train_transcoder,
    transcoder_fit,
)
from workbench.saes.loading import save_sae

from helpers import tiny_model


def test_training_improves_the_fit_and_saves_in_sae_lens_format(tmp_path):
    model = tiny_model()
    cfg = TranscoderTrainConfig(layer=1, n_tokens=150_000, batch_size=1024, buffer_games=64)
    x, y = next(pair_stream(model, 1, batch_size=2048, buffer_games=64, seed=123))
    before, _ = transcoder_fit(new_transcoder(model, cfg), x, y)
    trained = train_transcoder(model, cfg)
    after, l0 = transcoder_fit(trained.transcoder, x, y)
    assert after > before + 0.2 and 0 < l0 < trained.transcoder.cfg.d_sae
    save_sae(trained.transcoder, tmp_path / "tc", trained.summary())
    loaded = SAE.load_from_disk(tmp_path / "tc")  # sae-lens's own loader
    assert isinstance(loaded, Transcoder) and loaded.cfg.d_out == 32
    assert loaded.cfg.metadata.hook_name_out == "blocks.1.hook_mlp_out"
    assert torch.allclose(
        loaded.decode(loaded.encode(x)), trained.transcoder.decode(trained.transcoder.encode(x))
    )


def test_pair_stream_pairs_each_input_with_its_output_and_ends_with_the_run(monkeypatch):
    from itertools import islice

    from workbench.circuits import transcoders

    model = tiny_model()
    harvested = []
    plain = transcoders.harvest

    def counting(model, games, hooks, **kwargs):
        harvested.append(games.n_games)
        return plain(model, games, hooks, **kwargs)

    monkeypatch.setattr(transcoders, "harvest", counting)
    stream = partial(pair_stream, model, 1, batch_size=1024, buffer_games=64, seed=3)
    ended = list(stream(end=4))  # 3 batches per chunk of 64 games, then one more
    assert len(ended) == 4 and harvested == [64, 18]  # 18 games: 1,062 positions for 1,024
    endless = list(islice(stream(), 3))
    for (x, y), (x_, y_) in zip(ended[:3], endless, strict=True):
        assert torch.equal(x, x_) and torch.equal(y, y_)
    with torch.no_grad():
        for x, y in ended:  # each row's output is the MLP of that row's input
            assert torch.allclose(model.blocks[1].mlp(x[None])[0], y, atol=1e-5)
