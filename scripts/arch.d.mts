// Types of scripts/arch.mjs, for the tests and the test config that use it.
export interface Arch {
  node: string;
  nodePackage: string;
  cc: string;
  emulator?: string[];
}
export type ArchName = 'amd64' | 'arm64';
export const ARCHES: Record<ArchName, Arch>;
export const HOST: ArchName;
export function archName(name: string): ArchName;
export function archesFromArgv(argv: string[], fallback?: ArchName[]): ArchName[];
export function executable(arch: ArchName): string;
export function workDir(arch: ArchName): string;
export function command(arch: ArchName, file: string, args?: string[]): [string, string[]];
export function cannotRun(arch: ArchName): string | undefined;
export function nodePackageDir(arch: ArchName): string;
export function nodeBinary(arch: ArchName): string;
export function cannotTest(arch: ArchName): string | undefined;
export function writeRunner(arch: ArchName): string;
