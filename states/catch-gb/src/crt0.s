;; Catch for the Game Boy: start-up code and cartridge header (sdasgb syntax).
;; The header checksum (0x14D) and the global checksum (0x14E) are filled in by
;; tools/romfix after linking.
        .module crt0
        .globl  _main

        .area   _HEADER (ABS)

        .org    0x0100
        nop
        jp      init

        ;; 0x104: the Nintendo logo the boot ROM compares
        .org    0x0104
        .db     0xCE,0xED,0x66,0x66,0xCC,0x0D,0x00,0x0B,0x03,0x73,0x00,0x83,0x00,0x0C,0x00,0x0D
        .db     0x00,0x08,0x11,0x1F,0x88,0x89,0x00,0x0E,0xDC,0xCC,0x6E,0xE6,0xDD,0xDD,0xD9,0x99
        .db     0xBB,0xBB,0x67,0x63,0x6E,0x0E,0xEC,0xCC,0xDD,0xDC,0x99,0x9F,0xBB,0xB9,0x33,0x3E

        ;; 0x134: title, 15 bytes, zero padded, then the CGB flag
        .org    0x0134
        .ascii  "GBFARM CATCH"
        .db     0x00,0x00,0x00
        .db     0x00            ; 0x143 CGB flag: DMG game
        .db     0x00,0x00       ; 0x144 new licensee code
        .db     0x00            ; 0x146 SGB flag: none
        .db     0x00            ; 0x147 cartridge type: ROM only
        .db     0x00            ; 0x148 ROM size: 32 KiB
        .db     0x00            ; 0x149 RAM size: none
        .db     0x01            ; 0x14A destination: non-Japanese
        .db     0x00            ; 0x14B old licensee code
        .db     0x00            ; 0x14C version
        .db     0x00            ; 0x14D header checksum (romfix)
        .db     0x00,0x00       ; 0x14E global checksum, big-endian (romfix)

        .org    0x0150
init:
        di
        ld      sp, #0xE000
        ;; clear work RAM 0xC000-0xDFFF (the state block at 0xC000 included)
        ld      hl, #0xC000
        ld      bc, #0x2000
clear:
        xor     a, a
        ld      (hl+), a
        dec     bc
        ld      a, b
        or      a, c
        jr      nz, clear
        call    gsinit
        call    _main
forever:
        halt
        nop
        jr      forever

        ;; link order of the relocatable areas
        .area   _HOME
        .area   _CODE
        .area   _INITIALIZER
        .area   _GSINIT
gsinit::
        .area   _GSFINAL
        ret
        .area   _DATA
        .area   _INITIALIZED
        .area   _BSEG
        .area   _BSS
        .area   _HEAP
