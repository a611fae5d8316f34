"""Linear probes of the board: ``probe`` (one probe: train, score, save, load), ``suite``
(a model's shipped probe suite, ``load_probes``), ``interventions`` (edits along probe
directions and their check against the engine)."""
