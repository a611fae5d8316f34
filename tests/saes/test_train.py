import torch

from workbench.saes.train import SAETrainConfig, activation_stream, train_sae

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
