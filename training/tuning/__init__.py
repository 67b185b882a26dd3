"""Fine-tuning a base model: the script, its Trainer, LoRA, several processes, its options."""
