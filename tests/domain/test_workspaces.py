import pytest

from app.domain.workspaces import (
    DEFAULT_LIFECYCLE_STAGES,
    DEFAULT_TIERS,
    MAX_VOCABULARY,
    validate_vocabulary,
)
from app.errors import InvalidInput


class TestValidateVocabulary:
    def test_keeps_the_given_order(self) -> None:
        assert validate_vocabulary("tiers", ["gold", "silver", "bronze"]) == [
            "gold",
            "silver",
            "bronze",
        ]

    def test_the_defaults_are_valid(self) -> None:
        validate_vocabulary("tiers", list(DEFAULT_TIERS))
        validate_vocabulary("lifecycle_stages", list(DEFAULT_LIFECYCLE_STAGES))

    def test_an_empty_list_is_invalid(self) -> None:
        with pytest.raises(InvalidInput) as raised:
            validate_vocabulary("tiers", [])
        assert raised.value.errors is not None
        assert raised.value.errors[0]["loc"] == ["body", "tiers"]

    def test_duplicates_are_invalid(self) -> None:
        with pytest.raises(InvalidInput, match="duplicates"):
            validate_vocabulary("tiers", ["gold", "gold"])

    @pytest.mark.parametrize("word", ["Gold", "1st", "gold tier", "gold-tier", "", "g" * 65])
    def test_words_that_are_not_lower_snake_case_are_invalid(self, word: str) -> None:
        with pytest.raises(InvalidInput):
            validate_vocabulary("tiers", ["silver", word])

    def test_each_bad_word_is_reported(self) -> None:
        with pytest.raises(InvalidInput) as raised:
            validate_vocabulary("tiers", ["Gold", "silver", "Bronze"])
        assert raised.value.errors is not None
        assert len(raised.value.errors) == 2

    def test_the_maximum_number_of_words_is_accepted(self) -> None:
        assert len(validate_vocabulary("tiers", [f"t{i}" for i in range(MAX_VOCABULARY)])) == 50

    def test_one_word_over_the_maximum_is_invalid(self) -> None:
        with pytest.raises(InvalidInput):
            validate_vocabulary("tiers", [f"t{i}" for i in range(MAX_VOCABULARY + 1)])
