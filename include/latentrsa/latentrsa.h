/*
 * latentrsa: representational similarity between brains and neural networks.
 * The umbrella header: include this one, or the module headers you need.
 * Conventions (errors, ownership, logging) are stated in core.h.
 */
#ifndef LATENTRSA_H
#define LATENTRSA_H

#include "latentrsa/version.h"
#include "latentrsa/core.h"
#include "latentrsa/tsv.h"
#include "latentrsa/npy.h"
#include "latentrsa/labels.h"
#include "latentrsa/safetensors.h"
#include "latentrsa/nifti.h"
#include "latentrsa/image.h"
#include "latentrsa/bids.h"
#include "latentrsa/synth.h"
#include "latentrsa/imgproc.h"
#include "latentrsa/plot.h"
#include "latentrsa/render.h"
#include "latentrsa/render_jobs.h"
#include "latentrsa/reduce.h"
#include "latentrsa/rdm.h"
#include "latentrsa/compare.h"
#include "latentrsa/inference.h"
#include "latentrsa/embed_voxels.h"
#include "latentrsa/vit.h"
#include "latentrsa/report.h"
#include "latentrsa/align.h"

#endif
