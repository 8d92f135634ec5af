"""Other trainers' reward protocols, each a small router over the same scoring path as `/v1/score`.

- `openrlhf`: `POST /openrlhf/{source}/get_reward` (OpenRLHF's --remote_rm_url).
- `nemo_gym`: `POST /verify` and `/seed_session` (a NeMo Gym resources server).
- `openai_graders`: `POST /v1/fine_tuning/alpha/graders/run` and `/validate`.

verl calls the service from its side: `referee.trainer.verl.compute_score`.
"""
