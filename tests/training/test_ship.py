import json
import shlex

import torch
from safetensors.torch import load_file

from workbench.cli import main
from workbench.evaluation import evaluate_legal_moves, held_out_games
from workbench.models.io import load_model_folder
from workbench.training.ship import ship
from workbench.training.train import train

from helpers import calls_of_recorded_command, tiny_train_config


def test_shipped_card_holds_the_figures_of_the_shipped_weights(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    train(tiny_train_config(run))
    card = ship(run, "tiny-shipped", train_command="workbench train --max-minutes 5  # note",
                n_games=40, dtype="float16", models_dir=tmp_path / "models")  # fmt: skip
    folder = tmp_path / "models" / "tiny-shipped"
    assert json.loads((folder / "card.json").read_text()) == card
    shipped = load_model_folder(folder)
    stored = load_file(folder / "model.safetensors")
    assert stored["unembed.W_U"].dtype == torch.float16
    for policy in ("random", "greedy"):
        metrics = evaluate_legal_moves(shipped, held_out_games(40, policy=policy))
        # The card was computed on the weights after the fp16 round trip: the same numbers.
        assert metrics.top1_legal == card["evaluation"][policy]["top1_legal"]
        assert metrics.legal_mass == card["evaluation"][policy]["legal_mass"]
    assert [r["step"] for r in card["learning_curve"]] == [3, 6]
    assert card["weights_dtype"] == "float16" and card["train_command"].endswith("# note")
    # The card's evaluation command, run as written, gives the card's figure.
    argv = shlex.split(card["evaluation_command"].replace("random|greedy", "greedy"))[1:]
    main(argv)
    printed = json.loads(capsys.readouterr().out)
    assert printed["top1_legal"] == card["evaluation"]["greedy"]["top1_legal"]
    # So does the recorded ship command: the same run, name, dtype, games and train command.
    calls = calls_of_recorded_command(
        monkeypatch, "workbench.training.ship.ship", card["ship_command"], card
    )
    assert calls == [
        ((str(run), "tiny-shipped"),
         {"train_command": card["train_command"], "dtype": "float16", "n_games": 40})
    ]  # fmt: skip
