/** What a command hands back to the protocol layer: the JSON to print (if any) and facts for the log. */
export interface Outcome {
  output?: Record<string, unknown>;
  addresses?: string[];
  lockWaitMs?: number;
}

export interface Attachment {
  containerId: string;
  ifname: string;
  netns: string;
  podNamespace?: string;
  podName?: string;
}
