"""Fine-tuning: the records of fine-tuning jobs (OpenAI's shape), their store, checkpoints on
disk, and the trainers that run them as Berth jobs."""
