import pytest

from workbench.othello.squares import row_col, square_index, square_name


def test_names_follow_row_major_convention():
    assert square_index("A1") == 0 and square_index("B1") == 1 and square_index("A2") == 8
    assert square_index("h8") == 63 and square_name(28) == "E4"
    assert row_col("C4") == (3, 2)


@pytest.mark.parametrize("bad", ["I1", "A9", "", "A10"])
def test_unknown_names_list_valid_ones(bad):
    with pytest.raises(ValueError, match="valid names are A1..H8"):
        square_index(bad)


def test_out_of_range_index():
    with pytest.raises(ValueError, match="0..63"):
        square_index(64)
    with pytest.raises(TypeError):
        square_index(1.5)
