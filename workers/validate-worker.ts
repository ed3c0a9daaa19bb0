// Piscina worker for `legacy2oci validate`: one task = one blob, read once
// (hash + decompress + diffID + tar scan). See src/oci/validate/blob-check.ts.
import { checkBlob, type BlobResult, type BlobTask } from '../src/oci/validate/blob-check.js';

export default function validateBlob(task: BlobTask): Promise<BlobResult> {
  return checkBlob(task);
}
