//! The examples each subcommand's `--help` ends with.

pub const VALIDATE: &str = "Examples:\n  lifeboat validate runbooks/*.yaml\n  lifeboat validate drill.yaml --set namespace=shop-drill";
pub const PLAN: &str = "Examples:\n  lifeboat plan runbooks/failover.yaml\n  lifeboat plan runbooks/restore.yaml --set backup=20261127-0300 --format json\n  lifeboat plan runbooks/failover.yaml --format markdown > plan.md";
pub const RUN: &str = "Examples:\n  lifeboat run runbooks/demo.yaml\n  lifeboat run drill.yaml --yes --junit drill.xml --report drill.html\n  lifeboat run failover.yaml --dry-run";
pub const RESUME: &str = "Examples:\n  lifeboat resume 20261128-031500-shop-failover\n  lifeboat resume 20261128-031500-shop-failover --state s3://dr-backups/shop/ --yes";
pub const STATUS: &str = "Examples:\n  lifeboat status\n  lifeboat status 20261128-031500-shop-failover --state ./.lifeboat";
pub const BACKUPS: &str = "Examples:\n  lifeboat backups list --store s3://dr-backups/shop/\n  lifeboat backups verify --store ./backups 20261128-031500-shop\n  lifeboat backups verify --store ./backups 20261128-031500-shop --public-key lifeboat.pub --require-signature\n  lifeboat backups diff --store s3://dr-backups/shop/ 20261127-031500-shop 20261128-031500-shop";
pub const SANDBOX: &str = "Examples:\n  lifeboat sandbox serve --seed runbooks/fixtures/shop --kubeconfig /tmp/sandbox.kubeconfig\n  kubectl --kubeconfig /tmp/sandbox.kubeconfig get deployments -A";
pub const SCHEMA: &str = "Examples:\n  lifeboat schema > lifeboat.schema.json\n  # then, first line of a runbook:\n  # yaml-language-server: $schema=./lifeboat.schema.json";
pub const RBAC: &str = "Examples:\n  lifeboat rbac runbooks/backup.yaml | kubectl apply -f -\n  lifeboat rbac runbooks/failover.yaml --cluster standby | kubectl --context prod-us apply -f -\n  lifeboat rbac runbooks/restore.yaml --set target=shop-restored";
pub const COMPLETIONS: &str = "Examples:\n  lifeboat completions bash > /etc/bash_completion.d/lifeboat\n  lifeboat completions zsh > \"${fpath[1]}/_lifeboat\"";
