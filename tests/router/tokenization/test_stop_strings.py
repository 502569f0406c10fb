"""Stop strings across stream deltas: caught when split, held text released when not a stop."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from hybridserve.router.tokenization import StopStringMatcher


def feed(matcher: StopStringMatcher, deltas: list[str]) -> tuple[str, bool]:
    out, stopped = [], False
    for delta in deltas:
        text, stopped = matcher.push(delta)
        out.append(text)
    return "".join(out) + ("" if stopped else matcher.flush()), stopped


def test_stop_split_across_deltas_is_caught():
    m = StopStringMatcher(["STOP"])
    assert m.push("hello S") == ("hello ", False)
    assert m.push("TO") == ("", False)
    assert m.push("P and more") == ("", True)
    assert m.push("late") == ("", True)
    assert m.flush() == ""


def test_held_text_is_released_when_it_is_not_a_stop():
    m = StopStringMatcher(["STOP"])
    assert m.push("ST") == ("", False)
    assert m.push("OOL") == ("STOOL", False)
    assert m.push("end S") == ("end ", False)
    assert m.flush() == "S"


def test_earliest_of_several_stops_wins():
    m = StopStringMatcher(["</answer>", "\n\n", "ab"])
    assert m.push("x\n") == ("x", False)
    assert m.push("\nab</answer>") == ("", True)
    assert feed(StopStringMatcher(["cd", "abce"]), ["ab", "cd"]) == ("ab", True)
    assert feed(StopStringMatcher(["bc", "abcd"]), ["ab", "cd"]) == ("", True)


def test_overlapping_prefixes_hold_the_longest_candidate():
    m = StopStringMatcher(["aab"])
    assert m.push("aaa") == ("a", False)
    assert m.push("b!") == ("", True)


def test_no_stops_passes_text_through():
    m = StopStringMatcher(["", *[]])
    assert m.push("anything") == ("anything", False)


@given(
    st.text(alphabet="abST", max_size=30),
    st.lists(st.integers(min_value=0, max_value=30), max_size=6),
)
def test_any_split_gives_the_unsplit_result(text, cuts):
    stops = ["ST", "aba"]
    bounds = [0, *sorted(set(cuts)), len(text)]
    deltas = [text[a:b] for a, b in zip(bounds, bounds[1:])]
    hits = [i for i in (text.find(s) for s in stops) if i >= 0]
    expected = (text[: min(hits)], True) if hits else (text, False)
    assert feed(StopStringMatcher(stops), deltas) == expected
