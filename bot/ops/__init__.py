"""Operations the executor runs: each builds a Plan of steps from validated parameters."""
