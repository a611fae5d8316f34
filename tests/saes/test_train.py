from functools import partial

import torch

from workbench.saes.train import (
    NORM_BATCHES,
    SAETrainConfig,
    activation_stream,
    input_scale,
    train_sae,
)

from helpers import tiny_model

HOOK = "blocks.1.hook_resid_post"


def test_activation_stream_is_reproducible_and_shaped():
    model = tiny_model()
    a = next(activation_stream(model, HOOK, batch_size=256, buffer_games=16, seed=3))
    b = next(activation_stream(model, HOOK, batch_size=256, buffer_games=16, seed=3))
    assert a.shape == (256, 32) and torch.equal(a, b)


def test_sae_lens_trains_topk_and_standard_and_reconstruction_improves():
    model = tiny_model()
    x = next(activation_stream(model, HOOK, batch_size=2048, buffer_games=64, seed=99))
    for arch in ("topk", "standard"):
        cfg = SAETrainConfig(
            hook=HOOK,
            architecture=arch,
            k=8,
            l1_coefficient=0.3,
            n_tokens=300_000,
            batch_size=1024,
            buffer_games=64,
        )
        trained = train_sae(model, cfg)
        sae = trained.sae
        assert sae.cfg.d_in == 32 and sae.cfg.d_sae == 256
        assert sae.cfg.metadata.hook_name == HOOK
        with torch.no_grad():
            err = ((sae.decode(sae.encode(x)) - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
        assert err < 0.9, (arch, float(err))  # far better than predicting the mean
        assert trained.tokens_per_s > 0


def test_matryoshka_trains_nested_levels_and_saves_as_sae_lens_reads_it():
    from workbench.saes.train import matryoshka_widths

    cfg = SAETrainConfig(
        hook=HOOK, architecture="matryoshka", k=8, n_tokens=300_000, batch_size=1024
    )
    assert matryoshka_widths(cfg, 32) == [32, 64, 128, 256]
    trained = train_sae(tiny_model(), cfg)
    assert trained.sae.cfg.d_sae == 256 and trained.sae.cfg.metadata.hook_name == HOOK
    x = next(activation_stream(tiny_model(), HOOK, batch_size=512, buffer_games=16, seed=5))
    with torch.no_grad():
        active = (trained.sae.encode(x) > 0).float().sum(-1).mean()
    assert 0 < active < 32  # sparse: a batch average near k, far from all 256


def test_matryoshka_levels_must_fit_the_dictionary():
    import pytest

    from workbench.saes.train import matryoshka_widths

    with pytest.raises(ValueError, match="matryoshka_levels=0"):
        matryoshka_widths(SAETrainConfig(hook=HOOK, matryoshka_levels=0), 32)
    with pytest.raises(ValueError, match="use 1..9 levels"):
        matryoshka_widths(SAETrainConfig(hook=HOOK, matryoshka_levels=12), 32)


def test_matryoshka_levels_are_checked_only_for_matryoshka():
    from workbench.saes.trainer import training_sae

    sae = training_sae(
        SAETrainConfig(hook=HOOK, architecture="topk", matryoshka_levels=0), 32, "custom"
    )
    assert sae.cfg.k == 32


def test_gated_trains_sparse_and_round_trips_through_sae_lens(tmp_path):
    from sae_lens import SAE

    from workbench.cli.saes import SAE_ARCHITECTURES
    from workbench.saes.loading import save_sae
    from workbench.saes.train import ARCHITECTURES
    from workbench.saes.trainer import CLASSES

    assert SAE_ARCHITECTURES == list(ARCHITECTURES) == list(CLASSES)  # each one trainable
    model = tiny_model()
    cfg = SAETrainConfig(
        hook=HOOK, architecture="gated", l1_coefficient=3.0, n_tokens=300_000, batch_size=1024
    )
    sae = train_sae(model, cfg).sae
    x = next(activation_stream(model, HOOK, batch_size=2048, buffer_games=64, seed=99))
    loaded = SAE.load_from_disk(save_sae(sae, tmp_path / "gated"))
    assert loaded.cfg.architecture() == "gated"
    with torch.no_grad():
        features = loaded.encode(x)
        err = ((loaded.decode(features) - x) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
        assert torch.allclose(features, sae.encode(x))
    assert err < 0.9, float(err)  # far better than predicting the mean
    active = (features > 0).float().sum(-1).mean()
    assert 0 < active < 128, float(active)  # sparse: well under half of the 256 features


def test_progress_bar_ends_at_its_total(monkeypatch):
    # sae-lens advanced its bar 100 steps at a time: a 122-step run stopped at 100/122
    # and was drawn red (unfinished) in a notebook although training had finished.
    import sae_lens.training.activation_scaler as activation_scaler
    import sae_lens.training.sae_trainer as sae_trainer
    from tqdm import tqdm

    import workbench.saes.config as config

    bars = []

    class Recording(tqdm):
        def close(self):
            # once per bar: tqdm closes a bar again when it is deleted (an id() key is no
            # guard: a later bar can reuse a collected one's id, and was then not recorded)
            if not getattr(self, "_recorded", False):
                self._recorded = True
                bars.append((self.n, self.total, self.leave))
            super().close()

    monkeypatch.setattr(sae_trainer, "tqdm", Recording)
    # sae-lens's scale estimate (leave=False) stayed in a saved notebook at "1/20": the
    # workbench's own bar replaces it and ends at its total.
    monkeypatch.setattr(activation_scaler, "tqdm", Recording)
    monkeypatch.setattr(config, "tqdm", Recording)  # the input-scale bar (config.input_scale)

    def random_batches(start=0, end=None):
        gen = torch.Generator().manual_seed(start)
        while True:
            yield torch.randn(64, 32, generator=gen)

    cfg = SAETrainConfig(hook=HOOK, k=4, n_tokens=122 * 64, batch_size=64)  # 7,808
    train_sae(tiny_model(), cfg, activations=random_batches)
    assert bars == [(NORM_BATCHES, NORM_BATCHES, True), (7808, 7808, True)]


def test_input_scale_is_sae_lens_own_estimate():
    from sae_lens.training.activation_scaler import ActivationScaler

    gen = torch.Generator().manual_seed(0)
    batches = [3 * torch.randn(64, 32, generator=gen) for _ in range(5)]
    reference = ActivationScaler()
    reference.estimate_scaling_factor(32, iter(batches), n_batches_for_norm_estimate=5)
    rest = iter(batches + [torch.zeros(64, 32)])
    assert input_scale(rest, 32, 5) == reference.scaling_factor  # bit for bit
    assert torch.equal(next(rest), torch.zeros(64, 32))  # it drew exactly n batches


def test_n_games_cycles_over_the_same_activations_in_a_new_order():
    from itertools import islice

    model = tiny_model()
    kw = dict(batch_size=236, buffer_games=16, seed=3)  # 4 batches per chunk of 16 games
    fresh = list(islice(activation_stream(model, HOOK, **kw), 8))
    cycled = list(islice(activation_stream(model, HOOK, n_games=16, **kw), 12))
    for a, b in zip(fresh[:4], cycled[:4], strict=True):
        assert torch.equal(a, b)  # the first pass is the fresh stream's
    first, second = torch.cat(cycled[:4]), torch.cat(cycled[4:8])
    assert not torch.equal(first, second)  # a new order ...
    assert torch.equal(first.sort(dim=0).values, second.sort(dim=0).values)  # ... same rows
    assert not torch.equal(torch.cat(fresh[4:8]), second)  # fresh games differ
    resumed = list(islice(activation_stream(model, HOOK, n_games=16, start=5, **kw), 7))
    for a, b in zip(cycled[5:], resumed, strict=True):
        assert torch.equal(a, b)  # a resume sees what an uninterrupted run did


def test_n_games_must_be_whole_buffers():
    import pytest

    with pytest.raises(ValueError, match="multiple of buffer_games"):
        next(activation_stream(tiny_model(), HOOK, batch_size=64, buffer_games=16, n_games=24))


def test_the_sae_records_the_models_registry_name_so_it_passes_check_compatible():
    # The default used to be the alias "othello", which check_compatible refuses on the
    # model load_model("othello") returns (it records "othello-gpt-cpu-6l"): notebook 03's
    # live SAE failed its evaluation.
    from workbench.models.registry import canonical_name
    from workbench.saes.loading import check_compatible
    from workbench.saes.train import recorded_model_name

    model = tiny_model()
    model.cfg.model_name = canonical_name("othello")
    assert recorded_model_name(SAETrainConfig(hook=HOOK), model) == canonical_name("othello")
    named = SAETrainConfig(hook=HOOK, model_name="othello-random-init")
    assert recorded_model_name(named, model) == canonical_name("othello") + "-random-init"

    def random_batches(start=0, end=None):
        while True:
            yield torch.randn(64, 32)

    cfg = SAETrainConfig(hook=HOOK, k=4, n_tokens=4 * 64, batch_size=64)
    trained = train_sae(model, cfg, activations=random_batches)
    assert trained.sae.cfg.metadata.model_name == canonical_name("othello")
    assert check_compatible(trained.sae, model) == HOOK


def test_a_run_harvests_no_more_than_it_trains_on(monkeypatch):
    """The stream ends with the run, and the run's last chunk harvests only the games its
    batches need: less than one game's positions over what is trained on, beside the rows
    each whole chunk leaves after its last whole batch (as it always did)."""
    from itertools import islice

    from workbench.othello.tokens import N_CTX
    from workbench.saes import train

    model = tiny_model()
    batch, games = 1024, 64  # 3 batches per chunk of 3,776 positions, 704 rows left over
    per_chunk, left_over = divmod(games * N_CTX, batch)
    assert per_chunk == 3
    stream = partial(activation_stream, model, HOOK, batch_size=batch, buffer_games=games, seed=5)
    endless = list(islice(stream(), 31))
    ended = list(stream(end=31))  # 10 whole chunks, then 1 batch (18 games) of chunk 10
    assert len(ended) == 31
    assert all(torch.equal(a, b) for a, b in zip(endless[:30], ended[:30], strict=True))
    assert not torch.equal(endless[30], ended[30])  # the last chunk: 18 games' positions
    resumed = list(stream(start=28, end=31))  # a resume inside the last chunk
    assert all(torch.equal(a, b) for a, b in zip(ended[28:], resumed, strict=True))

    harvested = []
    plain = train.harvest

    def counting(model, games, hooks, **kwargs):
        harvested.append(games.n_games * N_CTX)
        return plain(model, games, hooks, **kwargs)

    monkeypatch.setattr(train, "harvest", counting)
    cfg = SAETrainConfig(hook=HOOK, k=8, n_tokens=11 * batch, batch_size=batch, buffer_games=games)
    for prefetch in (0, 2):  # a thread working ahead stops with the stream too
        harvested.clear()
        train_sae(model, cfg, prefetch=prefetch)
        used = (NORM_BATCHES + 11) * batch  # every batch the run draws: 10 chunks and one
        assert len(harvested) == 11 and batch <= harvested[-1] < batch + N_CTX
        assert 0 <= sum(harvested) - used - 10 * left_over < N_CTX
        assert sum(harvested) < 11 * games * N_CTX  # what the endless stream harvested
