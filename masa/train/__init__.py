"""Self-supervised MASA training from unlabeled images (SPEC §5): proposals, two-view augmentation,
sampling, losses, distillation heads and the training loop.

Importing this package imports torch and OpenCV; `segment_anything` only when SAM proposals are
made.
"""

from masa.train.augment import AugmentConfig, View, make_two_views
from masa.train.build import MODELS, adapter_config_for, build_training_models, heads_config_for
from masa.train.heads import HeadsConfig, ObjectPriorHeads
from masa.train.loop import LOG_COLUMNS, TrainConfig, learning_rate, train
from masa.train.losses import margin_l2_loss, track_logits, unbiased_contrastive_loss
from masa.train.objective import LOSS_NAMES, MasaObjective, TrackLossConfig
from masa.train.proposals import ProposalSet, build_sam_generator, make_proposals, read_proposals
from masa.train.sampling import assign_max_iou, match_targets, sample_instance_balanced
from masa.train.selective_search import selective_search_boxes, selective_search_proposals

__all__ = [
    "AugmentConfig",
    "HeadsConfig",
    "LOG_COLUMNS",
    "LOSS_NAMES",
    "MODELS",
    "MasaObjective",
    "ObjectPriorHeads",
    "ProposalSet",
    "TrackLossConfig",
    "TrainConfig",
    "View",
    "adapter_config_for",
    "assign_max_iou",
    "build_sam_generator",
    "build_training_models",
    "heads_config_for",
    "learning_rate",
    "make_proposals",
    "make_two_views",
    "margin_l2_loss",
    "match_targets",
    "read_proposals",
    "sample_instance_balanced",
    "selective_search_boxes",
    "selective_search_proposals",
    "track_logits",
    "train",
    "unbiased_contrastive_loss",
]
