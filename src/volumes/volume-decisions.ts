// What a backup does with each volume's data, and what chose it: the one precedence of docs/volumes.md.
// A pod volume without a claim is decided by the file-system selection (selection.ts: a volume policy rule,
// else the pod's annotations); a claim by decideClaims below: file-system backup when a backed-up pod's
// volume chose it, else the volume policy's first matching rule, else snapshotVolumes. The decisions are
// stored with the backup (<name>-volume-decisions.json.gz) for `describe --details`, and are what
// `backup create --dry-run` prints.
import type { VolumePolicy } from '../api/index.ts';
import type { KubeClient, KubeObject } from '../kube/index.ts';
import { snapshotTarget, type SnapshotTarget } from './csi-snapshots.ts';
import { matchVolumePolicy, type ClaimReader } from './volume-policy.ts';

export type VolumeAction = 'fs-backup' | 'snapshot' | 'skip';

/** One volume's fate: a pod volume (pod and volume) or a claim (claim, and the pod whose volume it is). */
export interface VolumeDecision {
  namespace: string;
  pod?: string | undefined;
  volume?: string | undefined;
  claim?: string | undefined;
  action: VolumeAction;
  /** What chose the action: a volume policy rule, a pod annotation, a backup field, or the default. */
  chosenBy: string;
  /** More about it: with which pod, or why what was chosen was not done. */
  detail?: string | undefined;
}

/** A claim chosen for file-system backup by a pod volume: the pod, what chose it, and why not done. */
export interface FsChosenClaim {
  pod: string;
  chosenBy: string;
  /** Unset: its files are backed up. Else why not ("not done: the pod is Pending ..."). */
  notDone?: string | undefined;
}

/** Said of a snapshot whose data is moved into the repository. */
export const MOVED = 'its data moved into the repository';

/** Said for a claim nothing chose a method for. */
export const NOTHING_CHOSE =
  'the default: no volume policy rule matched, no pod annotation chose it, snapshotVolumes is off';

/** A claim to snapshot, its target, what chose the snapshot, and whether its data is then moved. */
export interface ClaimToSnapshot {
  claim: KubeObject;
  target: SnapshotTarget;
  chosenBy: string;
  move: boolean;
}

export interface DecideClaimsInput {
  client: KubeClient;
  reader: ClaimReader;
  /** The backed-up claims. */
  claims: readonly KubeObject[];
  /** Claims ("ns/claim") a pod volume chose for file-system backup (fsChosenClaims). */
  fsChosen: ReadonlyMap<string, FsChosenClaim>;
  policy: VolumePolicy | undefined;
  snapshotVolumes: boolean;
  /** What messages name as having asked for snapshots: snapshotVolumes (default), or snapshotMoveData. */
  snapshotVolumesField?: string | undefined;
  /** snapshotMoveData: every snapshot's data is moved (a snapshot+move rule moves its claims' alone). */
  snapshotMoveData?: boolean | undefined;
  /** VolumeSnapshotClass per CSI driver. */
  classes: ReadonlyMap<string, string>;
  signal?: AbortSignal | undefined;
}

export interface ClaimDecisions {
  decisions: VolumeDecision[];
  toSnapshot: ClaimToSnapshot[];
  /** Messages worth a warning of the backup (by namespace). */
  warnings: { namespace: string; message: string }[];
}

/**
 * Whether a backup snapshots every claim no rule decides: snapshotVolumes, or snapshotMoveData when
 * snapshotVolumes is unset (moving snapshot data means taking the snapshots); and the field that says so.
 */
export function snapshotsAskedFor(spec: {
  snapshotVolumes?: boolean | undefined;
  snapshotMoveData?: boolean | undefined;
}): { snapshotVolumes: boolean; snapshotVolumesField: string } {
  if (spec.snapshotVolumes === undefined && spec.snapshotMoveData === true)
    return { snapshotVolumes: true, snapshotVolumesField: 'snapshotMoveData' };
  return { snapshotVolumes: spec.snapshotVolumes === true, snapshotVolumesField: 'snapshotVolumes' };
}

/** Whether a policy would snapshot anything, or list VolumeSnapshotClasses for nothing. */
export function policySnapshots(policy: VolumePolicy | undefined): boolean {
  return (policy?.volumePolicies ?? []).some((rule) => rule.action.type.startsWith('snapshot'));
}

/**
 * Decides, for every backed-up claim, how its data is backed up and what chose that: file-system backup
 * when a pod volume chose it and its files are read; else the policy's first matching rule; else, for a
 * claim whose files were chosen but are not read (no node agent, the pod not running), snapshotVolumes
 * as the fallback, or the file-system backup that was not done; else snapshotVolumes; else nothing.
 */
export async function decideClaims(input: DecideClaimsInput): Promise<ClaimDecisions> {
  const out: ClaimDecisions = { decisions: [], toSnapshot: [], warnings: [] };
  for (const claim of input.claims) {
    const namespace = claim.metadata.namespace ?? '';
    const name = claim.metadata.name;
    const decide = (decision: Omit<VolumeDecision, 'namespace' | 'claim'>) =>
      out.decisions.push({ namespace, claim: name, ...decision });
    const fs = input.fsChosen.get(`${namespace}/${name}`);
    if (fs && fs.notDone === undefined) {
      decide({ action: 'fs-backup', chosenBy: fs.chosenBy, detail: `its files, with pod ${fs.pod}` });
      continue;
    }
    const match = input.policy?.volumePolicies?.length
      ? matchVolumePolicy(input.policy, await input.reader.facts(namespace, name, claim))
      : undefined;
    if (match?.action === 'skip') {
      decide({ action: 'skip', chosenBy: match.text });
      continue;
    }
    let chosenBy: string | undefined;
    let note = '';
    if (fs) {
      // Its files were chosen and are not read: snapshotVolumes snapshots it instead, as in Velero.
      if (!input.snapshotVolumes) {
        decide({ action: 'fs-backup', chosenBy: fs.chosenBy, detail: fs.notDone });
        continue;
      }
      chosenBy = input.snapshotVolumesField ?? 'snapshotVolumes';
      note = ` (its files, chosen by ${fs.chosenBy}, are not read: ${fs.notDone?.replace(/^not done: /, '') ?? ''})`;
    } else if (match?.action === 'fs-backup') {
      const detail =
        'not done: no backed-up running pod mounts the claim, so no node agent can read its files';
      decide({ action: 'fs-backup', chosenBy: match.text, detail });
      out.warnings.push({ namespace, message: `claim ${name}: ${match.text} chose fs-backup, ${detail}` });
      continue;
    } else {
      chosenBy = match
        ? match.text
        : input.snapshotVolumes
          ? (input.snapshotVolumesField ?? 'snapshotVolumes')
          : undefined;
    }
    if (!chosenBy) {
      decide({ action: 'skip', chosenBy: NOTHING_CHOSE });
      continue;
    }
    // The claim's volume as the reader read it (for the policy, or now): read once.
    const { pv } = await input.reader.read(namespace, name, claim);
    const target = await snapshotTarget(input.client, claim, input.classes, input.signal, { pv });
    if ('skipped' in target) {
      const detail = `not snapshotted: ${target.skipped}`;
      decide({ action: 'snapshot', chosenBy, detail: detail + note });
      // A claim that cannot be snapshotted although a snapshot was asked for: a warning when a class is
      // missing (the operator can label one) or a rule chose it, else said in the log.
      if (target.skipped.startsWith('no VolumeSnapshotClass') || match)
        out.warnings.push({ namespace, message: `claim ${name}: ${detail}` });
      continue;
    }
    const move = match?.action === 'snapshot+move' || input.snapshotMoveData === true;
    decide({
      action: 'snapshot',
      chosenBy,
      detail:
        `a CSI snapshot (driver ${target.driver}, class ${target.className})${note}` +
        (move ? `; ${MOVED}` : ''),
    });
    out.toSnapshot.push({ claim, target, chosenBy, move });
  }
  return out;
}

/** A decision as one line: "ns/claim data: snapshot, chosen by snapshotVolumes: a CSI snapshot (...)". */
export function decisionLine(decision: VolumeDecision): string {
  const what =
    decision.pod !== undefined
      ? `pod ${decision.namespace}/${decision.pod} volume ${decision.volume ?? '?'}${decision.claim ? ` (claim ${decision.claim})` : ''}`
      : `claim ${decision.namespace}/${decision.claim ?? '?'}`;
  return `${what}: ${decision.action}, chosen by ${decision.chosenBy}${decision.detail ? `: ${decision.detail}` : ''}`;
}
