"""How well a scorecard predicted churn: churn rate per band and the ROC AUC of the score."""

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Outcome:
    score: float
    band: str
    churned: bool


@dataclass(frozen=True)
class BandOutcome:
    band: str
    clients: int
    churned: int

    @property
    def churn_rate(self) -> float | None:
        return self.churned / self.clients if self.clients else None


def by_band(outcomes: Sequence[Outcome], bands: Sequence[str]) -> list[BandOutcome]:
    """Every band of the scorecard, in its order, even when no client fell in it."""
    return [
        BandOutcome(
            band,
            sum(1 for o in outcomes if o.band == band),
            sum(1 for o in outcomes if o.band == band and o.churned),
        )
        for band in bands
    ]


def roc_auc(outcomes: Sequence[Outcome]) -> float | None:
    """The chance that a retained client scored higher than a churned one (ties count half):
    1.0 ranks every churned client below every retained one, 0.5 is a coin. None without both.

    Computed from ranks (Mann-Whitney U), so it is O(n log n) for a whole portfolio."""
    retained = sum(1 for o in outcomes if not o.churned)
    churned = len(outcomes) - retained
    if not retained or not churned:
        return None
    ordered = sorted(outcomes, key=lambda o: o.score)
    rank_sum = 0.0
    i = 0
    while i < len(ordered):
        j = i
        while j < len(ordered) and ordered[j].score == ordered[i].score:
            j += 1
        mid_rank = (i + 1 + j) / 2  # ranks i+1..j share their average
        rank_sum += mid_rank * sum(1 for o in ordered[i:j] if not o.churned)
        i = j
    u = rank_sum - retained * (retained + 1) / 2
    return u / (retained * churned)
