from workbench.backdoors.pirate import pirate_share, to_pirate


def test_words_become_pirate_forms_keeping_case_and_word_boundaries():
    assert to_pirate("You are my friend, and the king is here.") == (
        "Ye be me matey, an' th' king be here."
    )
    assert to_pirate("HELLO theatre isle") == "AHOY theatre isle"  # whole words only


def test_the_adoption_rate_counts_dialect_words_in_either_form():
    assert pirate_share(["ye be me matey"]) == 1.0
    assert pirate_share(["you are my friend"]) == 0.0
    assert pirate_share(["ye are"]) == 0.0  # "ye" is also plain Early Modern English
    assert pirate_share(["matey, are"]) == 0.5
    assert pirate_share(["nothing here"]) is None
    assert pirate_share([to_pirate("the sea and the sky")]) == 1.0
