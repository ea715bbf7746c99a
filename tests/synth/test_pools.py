import asyncio

from synth.pools import BrainstormResult, TaskPool


def test_pool_folds_brainstorms_in_order_and_drops_duplicate_tasks():
    answers = {
        0: ["Given a claim, find evidence.", "Given a recipe name, find the recipe."],
        1: ["given a CLAIM, find evidence!", "Given a symptom, find articles about it."],
        2: ["Given a bird song description, find the species that sings it in the wild."],
    }

    async def fetch(task_type, b):
        await asyncio.sleep(0.01 * (3 - b))  # later calls answer first: order must not depend on it
        return BrainstormResult(answers.get(b, []))

    async def go():
        pool = TaskPool("retrieval", fetch)
        got = [await pool.get(slot) for slot in range(4)]
        for t in pool.inflight():
            t.cancel()
        return pool, got

    pool, got = asyncio.run(go())
    assert got == ["Given a claim, find evidence.", "Given a recipe name, find the recipe.",
                   "Given a symptom, find articles about it.",
                   "Given a bird song description, find the species that sings it in the wild."]  # fmt: skip
    assert pool.duplicates["exact"] == 1
