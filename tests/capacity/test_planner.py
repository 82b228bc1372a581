"""Capacity planner properties: every replica placed, no GPU over capacity, isolation respected."""
from __future__ import annotations

import random
from collections import Counter

import pytest

from hybridai import catalog
from hybridai.capacity import CapacityError, InferenceDemand, Misfit, PoolInventory, TrainingDemand, lower_bound, pack, place_models
from hybridai.capacity.planner import WHOLE, profile_for


def fits(layout: Counter, gpu_model: str) -> bool:
    if WHOLE in layout:
        return layout == Counter({WHOLE: 1})
    g = catalog.gpus().models[gpu_model].mig
    return (
        sum(g.profiles[p].compute * n for p, n in layout.items()) <= g.compute_slices
        and sum(g.profiles[p].memory_slices * n for p, n in layout.items()) <= g.memory_slices
        and all(n <= g.profiles[p].max for p, n in layout.items())
    )


def test_replicas_cover_peak_with_headroom_and_production_keeps_two() -> None:
    assert InferenceDemand("m", "t", 10, peak_rps=100, throughput_rps=20).replicas == 8  # 100 / (20 × 0.7) = 7.1
    assert InferenceDemand("m", "t", 10, peak_rps=1, throughput_rps=100).replicas == 2
    assert InferenceDemand("m", "t", 10, peak_rps=1, throughput_rps=100, production=False).replicas == 1


def test_each_replica_is_planned_for_its_throughput_less_headroom() -> None:
    # GIVEN a replica sustaining 20 rps within its objective
    demand = InferenceDemand("m", "t", 10, peak_rps=100, throughput_rps=20)
    # THEN it is planned for 14 rps at peak (the 0.7 headroom): what its replicas are sized on
    assert demand.planned_rps == pytest.approx(14)
    assert demand.replicas == 8  # ceil(100 / 14)


def test_smallest_profile_that_holds_a_replica() -> None:
    assert profile_for(InferenceDemand("m", "t", 9, 1, 1), "A100-80GB") == "1g.10gb"
    assert profile_for(InferenceDemand("m", "t", 15, 1, 1), "A100-80GB") == "1g.20gb"
    assert profile_for(InferenceDemand("m", "t", 35, 1, 1), "A100-80GB") == "3g.40gb"
    assert profile_for(InferenceDemand("m", "t", 35, 1, 1, isolation="whole-gpu"), "A100-80GB") == WHOLE
    assert profile_for(InferenceDemand("m", "t", 30, 1, 1), "L40S-48GB") == WHOLE
    assert profile_for(InferenceDemand("m", "t", 90, 1, 1), "A100-80GB") is None


@pytest.mark.parametrize("seed", range(25))
def test_random_demands_are_placed_whole_within_capacity_and_near_the_bound(seed: int) -> None:
    rng = random.Random(seed)
    gpu = rng.choice(["A100-80GB", "A100-40GB", "H100-80GB", "A30-24GB"])
    profiles = list(catalog.gpus().models[gpu].mig.profiles)
    demand = Counter({p: rng.randint(0, 12) for p in rng.sample(profiles, k=rng.randint(1, len(profiles)))})
    demand[WHOLE] = rng.randint(0, 3)
    layouts = pack(demand, gpu)
    placed = sum(layouts, Counter())
    assert placed == +demand, "every replica placed exactly once"
    assert all(fits(layout, gpu) for layout in layouts), "no GPU over capacity"
    assert lower_bound(demand, gpu) <= len(layouts) <= max(lower_bound(demand, gpu) + 1, 1.1 * lower_bound(demand, gpu))


def test_whole_gpu_models_get_gpus_of_their_own() -> None:
    pools = [PoolInventory("a100", "A100-80GB", nodes=2, gpus_per_node=8)]
    models = [
        InferenceDemand("triage", "radiology", 35, peak_rps=50, throughput_rps=20),
        InferenceDemand("notes", "pathology", 8, peak_rps=200, throughput_rps=40),
        InferenceDemand("llm", "research", 70, peak_rps=5, throughput_rps=5, isolation="whole-gpu"),
    ]
    [plan] = place_models(pools, models)
    assert plan.profiles == {"triage": "3g.40gb", "notes": "1g.10gb", "llm": WHOLE}
    assert plan.replicas == {"triage": 4, "notes": 8, "llm": 2}
    whole = [layout for layout in plan.layouts if WHOLE in layout]
    assert whole == [Counter({WHOLE: 1})] * 2, "a whole-GPU replica shares its GPU with nothing"
    assert plan.slices == {"triage": 4, "notes": 8, "llm": 2}
    # 4 × 3g + 8 × 1g.10gb: 12 + 8 = 20 compute slices → 3 GPUs at least, plus 2 whole GPUs
    assert plan.gpus_used == 5


def test_a_catalog_that_doesnt_fit_names_the_model_and_the_shortfall() -> None:
    pools = [PoolInventory("a30", "A30-24GB", nodes=1, gpus_per_node=2)]
    models = [InferenceDemand("small", "t", 5, peak_rps=10, throughput_rps=10), InferenceDemand("big", "t", 20, peak_rps=80, throughput_rps=10)]
    with pytest.raises(CapacityError) as caught:
        place_models(pools, models)
    assert caught.value.misfits == [Misfit("big", "12 × 4g.24gb on pool a30 don't fit: 11 GPUs short", "capacity")]
    with pytest.raises(CapacityError, match="needs 100 GB of GPU memory; the largest GPU in the inventory has 24 GB"):
        place_models(pools, [InferenceDemand("huge", "t", 100, 1, 1)])


def test_training_gpus_at_once_from_weekly_gpu_hours_and_deadline() -> None:
    # 1536 GPU-hours in 48 h: 32 GPUs; 100 in 24 h: 4.17 → 5; 10 in 24 h still needs one
    assert [TrainingDemand("t", h, d).gpus for h, d in [(32 * 48, 48), (100, 24), (10, 24)]] == [32, 5, 1]


def test_a_fixed_layout_offers_only_its_slices_and_counts_them() -> None:
    # GIVEN a pool whose every GPU has the hand-set layout {3g.40gb: 2}: 4 GPUs → 8 slices
    pool = PoolInventory("a100", "A100-80GB", nodes=1, gpus_per_node=4, layout=(("3g.40gb", 2),))
    # WHEN an 8 GB model asks for slices, THEN it takes the layout's 3g.40gb (no smaller one is offered)
    [plan] = place_models([pool], [InferenceDemand("small", "t", 8, peak_rps=10, throughput_rps=10)])
    assert plan.profiles == {"small": "3g.40gb"} and plan.layouts == [Counter({"3g.40gb": 2})] * 4
    # AND 9 replicas don't fit the 8 slices: 1 slice short
    with pytest.raises(CapacityError) as caught:
        place_models([pool], [InferenceDemand("big", "t", 8, peak_rps=60, throughput_rps=10)])
    assert caught.value.misfits == [Misfit("big", "9 × 3g.40gb on pool a100 don't fit: 1 × 3g.40gb slice short", "capacity")]


def test_reserved_slices_are_packed_with_the_catalog() -> None:
    pool = PoolInventory("a100", "A100-80GB", nodes=1, gpus_per_node=8)
    models = [InferenceDemand("m", "t", 35, peak_rps=10, throughput_rps=10)]  # 2 × 3g.40gb
    # GIVEN 7 × 1g.10gb reserved beside the catalog, THEN both share the fewest GPUs possible: 2 × 3g
    # and 1 × 1g on one GPU, the other 6 × 1g on a second
    [plan] = place_models([pool], models, {"a100": Counter({"1g.10gb": 7})})
    assert sum(plan.layouts, Counter()) == Counter({"3g.40gb": 2, "1g.10gb": 7})
    assert plan.gpus_used == lower_bound(Counter({"3g.40gb": 2, "1g.10gb": 7}), "A100-80GB") == 2
    with pytest.raises(CapacityError, match="reserved"):
        place_models([pool], models, {"a100": Counter({"7g.80gb": 9})})


def test_placement_tables_decide_what_one_gpu_holds() -> None:
    from itertools import product

    from hybridai.catalog import placeable

    # 1g.20gb may start at memory slice 6 and cover slice 7; 1g.10gb may not start at 7
    assert placeable({"1g.20gb": 1, "2g.20gb": 1, "1g.10gb": 4}, "A100-80GB")
    assert not placeable({"1g.20gb": 4, "1g.10gb": 1}, "A100-80GB")
    assert not placeable({"3g.40gb": 2, "1g.10gb": 1}, "H100-80GB")
    # For every MIG GPU in the data, the placement tables agree with the sum rules on every layout
    # (so the sums the lower bound uses are exact; a GPU with other rules would fail here).
    for gpu_model, model in catalog.gpus().models.items():
        if model.mig is None:
            continue
        g = model.mig
        for counts in product(*(range(p.max + 1) for p in g.profiles.values())):
            layout = {name: n for name, n in zip(g.profiles, counts) if n}
            assert placeable(layout, gpu_model) == fits(Counter(layout), gpu_model), (gpu_model, layout)


def test_a_model_of_a_team_the_stack_lacks_names_the_teams_and_the_closest() -> None:
    # GIVEN healthcare-prod with a model whose team is misspelt
    from hybridai.config import StackConfigError
    from hybridai.program import prepare
    from tests.helpers import stack_values

    values = stack_values("healthcare-prod")
    values["models"][0]["team"] = "radiolgy"
    # WHEN it is prepared THEN the problem is at the model's team, with the closest team and every team
    with pytest.raises(StackConfigError) as caught:
        prepare("healthcare-prod", values)
    [problem] = [p for p in caught.value.problems if p.type == "team_unknown"]
    teams = ", ".join(sorted(t["name"] for t in values["teams"]))
    assert problem.loc == ("models", 0, "team")
    assert problem.message.endswith(f"no team 'radiolgy' in `teams`; did you mean `radiology`? teams: {teams}")
