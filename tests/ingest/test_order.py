"""Contract: the stable core is ordered least-changed first, recently changed last, ties by path; and a
history window that shifts by a commit does not reorder files whose change count did not double."""

from __future__ import annotations

from wholerepo.ingest.history import Churn
from wholerepo.ingest.order import churn_bucket, order_files


def test_least_changed_first_recent_last_ties_by_path() -> None:
    churn = {
        "hot.py": Churn(num_changes=9, last_changed_unix=3_000),
        "warm.py": Churn(num_changes=2, last_changed_unix=2_000),
        "warm_old.py": Churn(num_changes=3, last_changed_unix=1_000),
        "once.py": Churn(num_changes=1, last_changed_unix=500),
    }
    paths = ["hot.py", "b_never.py", "warm.py", "a_never.py", "once.py", "warm_old.py"]
    assert order_files(paths, churn) == ["a_never.py", "b_never.py", "once.py", "warm_old.py", "warm.py", "hot.py"]


def test_order_is_the_same_whatever_the_input_order() -> None:
    churn = {"x": Churn(num_changes=1, last_changed_unix=10)}
    assert order_files(["z", "x", "a"], churn) == order_files(["a", "z", "x"], churn) == ["a", "z", "x"]


def test_buckets_double() -> None:
    assert [churn_bucket(n) for n in (0, 1, 2, 3, 4, 7, 8)] == [0, 1, 2, 2, 3, 3, 4]
