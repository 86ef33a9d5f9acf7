"""Synthetic worlds with known truth, the evaluation of models against that truth, and policy replay."""
