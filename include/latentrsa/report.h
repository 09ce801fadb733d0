/*
 * The study's report: OUT/report.html, built from the output folder of `latentrsa run`
 * (OUT/results.json and the files it names; the folder layout and the results.json schema are in
 * docs/cli/report.md).
 *
 * ABOUT
 *   One self-contained HTML file that a scientist can read and archive without the tool: no
 *   external CSS, scripts, fonts or links; every figure is a PNG embedded as a
 *   data:image/png;base64 URI. Figures come from two places: PNGs the study already wrote
 *   (ae/AE.recon.png, ae/AE.loss.png), embedded as they are after checking they decode, and
 *   figures drawn here with the figure toolkit (plot.h): the RDM heatmaps (rows and columns
 *   ordered by source, then stimulus, from the RDMs' label sidecars), the permutation nulls with
 *   the observed r marked, the lag sweep, and the loss curves from AE.json when there is no
 *   AE.loss.png. Each is drawn to a temporary file in OUT, read back and removed.
 *
 *   Sections, in order (each an HTML <section> with a fixed id): headline (r, permutation p, CI,
 *   n, method; a red warning when the image side used random ViT weights; every warning), meaning
 *   (a plain-language paragraph generated from the numbers), dataset, architecture,
 *   reconstructions, rdms, loss, rsa, baseline, lags, truth, subjects, alignment, null, options,
 *   stages, versions. A section whose data is null in results.json is left out (headline,
 *   meaning, dataset, rsa, options, stages and versions are always there); a null value inside a
 *   section shows as "n/a". All text taken from results.json is HTML-escaped.
 *
 * ERRORS
 *   LRSA_ENOTFOUND: OUT/results.json, or a file it names, does not exist (the message names the
 *   file and, for a named file, the key that names it). LRSA_EFORMAT: results.json is not valid
 *   JSON or not an object, a key has the wrong type ("'OUT/results.json': 'rsa.r' is a string,
 *   expected a number or null"), a named file is malformed (an RDM that is not square or whose
 *   sidecar has another row count, a figure that is not a PNG). LRSA_EIO: a file cannot be read or
 *   report.html cannot be written. LRSA_ENOMEM. A figure that cannot be drawn because its data has
 *   no finite value is not an error: the report says so in its place and logs a warning.
 *   report.html is written atomically (lrsa_outfile): on any error an existing report.html is left
 *   as it was and no temporary file remains.
 */
#ifndef LATENTRSA_REPORT_H
#define LATENTRSA_REPORT_H

#include "latentrsa/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The name of the report inside the output folder. */
#define LRSA_REPORT_FILE "report.html"

/* Read out_dir/results.json and the files it names, and write out_dir/report.html. ctx (may be
 * NULL) receives warnings (figures not drawn) and an info line naming the file written. */
int lrsa_report_write(const char *out_dir, const lrsa_ctx *ctx, lrsa_err *err);

#ifdef __cplusplus
}
#endif
#endif
