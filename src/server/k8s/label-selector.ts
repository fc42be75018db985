// metav1.LabelSelector matching (matchLabels and matchExpressions with In,
// NotIn, Exists, DoesNotExist), as apimachinery's LabelSelectorAsSelector:
// an absent selector matches everything, and so does an empty one.

export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>>;
  readonly matchExpressions?: readonly { readonly key: string; readonly operator: string; readonly values?: readonly string[] }[];
}

/** Why `sel` is invalid, or undefined (the checks apimachinery makes). */
export function labelSelectorProblem(sel: LabelSelector | undefined): string | undefined {
  for (const e of sel?.matchExpressions ?? []) {
    switch (e.operator) {
      case 'In':
      case 'NotIn':
        if (!e.values?.length) return `matchExpressions key ${JSON.stringify(e.key)}: operator ${e.operator} needs at least one value`;
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (e.values?.length) return `matchExpressions key ${JSON.stringify(e.key)}: operator ${e.operator} takes no values`;
        break;
      default:
        return `matchExpressions key ${JSON.stringify(e.key)}: ${JSON.stringify(e.operator)} is not a valid label selector operator`;
    }
  }
  return undefined;
}

export function matchesLabels(sel: LabelSelector | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  const l = labels ?? {};
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of sel?.matchExpressions ?? []) {
    const has = Object.hasOwn(l, e.key);
    switch (e.operator) {
      case 'In':
        if (!has || !e.values?.includes(l[e.key]!)) return false;
        break;
      case 'NotIn':
        if (has && e.values?.includes(l[e.key]!)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}
