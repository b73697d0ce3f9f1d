// Cipher choices shared by our SSH server and client: AES-GCM first, which
// runs on the CPU's AES instructions and is the fastest here.
import type { Algorithms } from 'ssh2';

export const ALGORITHMS: Algorithms = {
  cipher: ['aes128-gcm@openssh.com', 'aes256-gcm@openssh.com', 'chacha20-poly1305@openssh.com', 'aes128-ctr', 'aes256-ctr'],
  serverHostKey: ['ssh-ed25519'],
};

/** The SSH subsystem that carries the Realize protocol. */
export const SUBSYSTEM = 'realize';
/** The user name our client presents; identity is the key, not the name. */
export const SSH_USER = 'realize';
