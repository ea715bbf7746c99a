import asyncio

from synth.run.pools import BrainstormResult, TaskPool


def test_pool_folds_brainstorms_in_order_and_drops_duplicate_tasks():
    answers = {
        0: ["Given a claim, find evidence.", "Given a recipe name, find the recipe."],
        1: ["given a CLAIM, find evidence!", "Given a symptom, find articles about it."],
        2: ["Given a bird song description, find the species that sings it in the wild."],
    }

    async def fetch(task_type, b):
        await asyncio.sleep(0.01 * (3 - b))  # later calls answer first: order must not depend on it
        return BrainstormResult(answers.get(b, []), 1)

    async def go():
        pool = TaskPool("retrieval", fetch)
        got = [await pool.get(slot) for slot in range(4)]
        for t in pool.inflight():
            t.cancel()
        return pool, got

    pool, got = asyncio.run(go())
    assert got == [
        "Given a claim, find evidence.",
        "Given a recipe name, find the recipe.",
        "Given a symptom, find articles about it.",
        "Given a bird song description, find the species that sings it in the wild.",
    ]
    assert pool.duplicates["exact"] == 1


def _pool_run(answers: dict[int, list[str]], attempts: dict[int, int], slots: list[int], share=0.1):
    async def fetch(task_type, b):
        await asyncio.sleep(0.001 * ((7 * b) % 5))  # answers arrive out of order
        return BrainstormResult(answers.get(b, []), attempts.get(b, 1))

    async def go():
        pool = TaskPool(
            "retrieval",
            fetch,
            examples_per_task=3,
            share=share,
            max_attempts=3,
            fallback=("built-in A", "built-in B"),
        )
        got = await asyncio.gather(*(pool.get(s) for s in slots))
        for t in pool.inflight():
            t.cancel()
        return pool, dict(zip(slots, got, strict=True))

    return asyncio.run(go())


def test_brainstorm_allowance_reuses_tasks_the_same_way_in_any_order():
    """A brainstorm that gives two tasks with three attempts: the next call is allowed only once the
    slots stand for enough example calls (0.1 * 3 * (s+1) > 3 attempts), so slots 2..9 reuse the two
    tasks (s mod 2); the answer of a slot never depends on which slots were asked first."""
    answers = {
        0: ["Task zero is a retrieval task.", "Task one is a retrieval task."],
        1: [f"Task {i} is another retrieval task." for i in range(2, 30)],
    }
    attempts = {0: 3}
    slots = list(range(40))
    _, in_order = _pool_run(answers, attempts, slots)
    _, reversed_order = _pool_run(answers, attempts, slots[::-1])
    assert in_order == reversed_order
    assert in_order[0] == "Task zero is a retrieval task." and in_order[2] == in_order[0]
    assert in_order[9] == "Task one is a retrieval task."  # 9 mod 2
    # allowance(12) = int(0.1*3*13) = 3: call 1 needs more than 3 attempts spent -> from slot 13 on
    assert in_order[13] == answers[1][13 - 2]


def test_a_pool_gives_up_after_dry_brainstorms_and_falls_back_to_built_in_tasks():
    pool, got = _pool_run({}, {0: 3, 1: 3}, list(range(100)))
    assert pool.gave_up and pool.calls_folded == 2 and pool.attempts == 6
    assert set(got.values()) == {"built-in A", "built-in B"} and got[3] == "built-in B"
    assert pool.served["fallback"] == 100
