#!/bin/bash
# Fine-tune ELECTRA on a Cloud TPU VM (a single-host slice such as v3-8 or v4-8).
# Create the VM once (from your workstation):
#   gcloud compute tpus tpu-vm create electra-tpu --zone=us-central1-b \
#       --accelerator-type=v3-8 --version=tpu-vm-tf-2.21.0-pjrt
# then copy this repository and the data to it and run this script on the VM:
#   gcloud compute tpus tpu-vm ssh electra-tpu --zone=us-central1-b -- 'bash electra-tf/examples/jobs/tpu_vm.sh'
# On the VM, cluster_resolver "tpu" connects to the attached TPU ("local"); from another machine
# set "tpu_name" (and "tpu_zone", "gcp_project") as the original's flags.

set -euo pipefail

DATA_DIR=${DATA_DIR:-$HOME/electra-data}  # or a gs:// bucket in the TPU's region
MODEL=${MODEL:-electra-base}
REPO=${REPO:-$HOME/electra-tf}
PYTHON=${PYTHON:-python3}

HPARAMS='{"task_names": ["mnli"], "train_batch_size": 256, "distribution_strategy": "tpu",
          "cluster_resolver": "tpu", "seed": 1}'

"$PYTHON" "$REPO/run_finetuning.py" --data-dir "$DATA_DIR" --model-name "$MODEL" --hparams "$HPARAMS"
