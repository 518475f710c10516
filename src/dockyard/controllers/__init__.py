"""Level-triggered control loops: read desired + actual state, plan with a pure
function, apply the plan. Each loop takes one step per tick and is safe to
repeat (a crash between steps heals on the next tick)."""
