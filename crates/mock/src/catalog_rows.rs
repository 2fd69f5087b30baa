//! The rows of the generated catalogs: which columns each download has, and what row `i`
//! holds. Everything is derived from the interface and the row's index, so a test can name
//! a row and know its text; nothing is random.
//!
//! Columns follow the spec's field names and order for the fields written, but are a subset
//! (the platform's 1301 file has about 90 columns, several of them provincial): enough for
//! a loader to meet codes, Chinese names, specifications with units, empty fields and the
//! version. `ver_name` is always the LAST field (see `catalogs` for why that is the
//! simulator's contract). No field ever holds a tab, CR or LF.

use std::fmt::{Display, Write};

/// The columns of one interface's file, in order.
pub fn columns(infno: &str) -> &'static [&'static str] {
    match infno {
        "1301" => &[
            "med_list_codg",     // 医疗目录编码
            "drug_prodname",     // 药品商品名
            "genname_codg",      // 通用名编号
            "drug_genname",      // 药品通用名
            "chemname",          // 化学名称
            "alis",              // 别名（空）
            "eng_name",          // 英文名称
            "reg_name",          // 注册名称
            "drugstdcode",       // 药监本位码
            "drug_dosform",      // 药品剂型
            "drug_dosform_name", // 药品剂型名称
            "drug_type",         // 药品类别
            "drug_type_name",    // 药品类别名称
            "drug_spec",         // 药品规格
            "min_useunt",        // 最小使用单位
            "min_salunt",        // 最小销售单位
            "convrat",           // 转换比
            "min_prcunt",        // 最小计价单位
            "prodentp_name",     // 生产企业名称
            "aprvno",            // 批准文号
            "vali_flag",         // 有效标志
            "rid",               // 唯一记录号
            "ver_name",          // 版本名称
        ],
        "1302" => &[
            "med_list_codg", // 医疗目录编码
            "tcmherb_name",  // 单味药名称
            "cpnd_flag",     // 单复方标志
            "qlt_lv",        // 质量等级
            "med_part",      // 药用部位
            "safe_mtr",      // 安全计量
            "cnvl_used",     // 常规用法
            "natfla",        // 性味
            "mertpm",        // 归经
            "cat",           // 品种
            "begndate",      // 开始日期
            "enddate",       // 结束日期（空）
            "vali_flag",     // 有效标志
            "rid",           // 唯一记录号
            "ver_name",      // 版本名称
        ],
        "1305" => &[
            "med_list_codg", // 医疗目录编码
            "prcunt",        // 计价单位
            "prcunt_name",   // 计价单位名称
            "trt_item_dscr", // 诊疗项目说明
            "trt_exct_cont", // 诊疗除外内容（空）
            "trt_item_cont", // 诊疗项目内涵（空）
            "vali_flag",     // 有效标志
            "memo",          // 备注（空）
            "servitem_type", // 服务项目类别
            "servitem_name", // 医疗服务项目名称
            "servitem_dscr", // 项目说明（空）
            "begndate",      // 开始日期
            "enddate",       // 结束日期（空）
            "rid",           // 唯一记录号
            "ver_name",      // 版本名称
        ],
        "1306" => &[
            "med_list_codg",    // 医疗目录编码
            "mcs_name",         // 耗材名称
            "udi",              // 医疗器械唯一标识码
            "hi_genname_codg",  // 医保通用名代码
            "hi_genname",       // 医保通用名
            "prod_mol",         // 产品型号
            "spec",             // 规格
            "mcs_matl",         // 耗材材质
            "min_useunt",       // 最小使用单位
            "min_salunt",       // 最小销售单位
            "highval_mcs_flag", // 高值耗材标志
            "prodentp_name",    // 生产企业名称
            "vali_flag",        // 有效标志
            "rid",              // 唯一记录号
            "ver_name",         // 版本名称
        ],
        _ => &[
            "code",      // 编码
            "name",      // 名称
            "memo",      // 备注（空）
            "vali_flag", // 有效标志
            "rid",       // 唯一记录号
            "ver_name",  // 版本名称
        ],
    }
}

/// Appends row `i` (0-based) of `infno`'s catalog, version `ver_name`, ended by "\n".
pub fn write_row(infno: &str, i: usize, ver_name: &str, out: &mut String) {
    let n = i + 1;
    let mut r = Row(out);
    match infno {
        "1301" => drug(&mut r, infno, i, n),
        "1302" => herb(&mut r, infno, i, n),
        "1305" => service(&mut r, infno, i, n),
        "1306" => consumable(&mut r, infno, i, n),
        _ => {
            let stem = STEMS
                .iter()
                .find(|(code, _)| *code == infno)
                .map_or("目录项", |(_, s)| s);
            r.f(format_args!("{infno}{n:010}"))
                .f(format_args!("{stem}（测试 {n}）"))
                .f("")
                .f("1")
                .f(format_args!("{infno}{n:016}"));
        }
    }
    r.end(ver_name);
}

/// Writes fields separated by tabs.
struct Row<'a>(&'a mut String);

impl Row<'_> {
    fn f(&mut self, field: impl Display) -> &mut Self {
        // Writing into a String cannot fail.
        let _ = write!(self.0, "{field}\t");
        self
    }

    fn end(self, ver_name: &str) {
        self.0.push_str(ver_name);
        self.0.push('\n');
    }
}

struct Drug {
    name: &'static str,
    atc: &'static str,
    chem: &'static str,
    eng: &'static str,
    form: (&'static str, &'static str),
    tcm: bool,
    spec: &'static str,
    unit: &'static str,
    count: u32,
    pack: &'static str,
}

/// One row of the drug table (a table reads best as positional columns).
#[allow(clippy::too_many_arguments)]
const fn d(
    name: &'static str,
    atc: &'static str,
    chem: &'static str,
    eng: &'static str,
    form: (&'static str, &'static str),
    tcm: bool,
    spec: &'static str,
    unit: &'static str,
    count: u32,
    pack: &'static str,
) -> Drug {
    Drug {
        name,
        atc,
        chem,
        eng,
        form,
        tcm,
        spec,
        unit,
        count,
        pack,
    }
}

const TABLET: (&str, &str) = ("01", "片剂");
const CAPSULE: (&str, &str) = ("02", "胶囊剂");
const INJECTION: (&str, &str) = ("03", "注射剂");
const GRANULE: (&str, &str) = ("04", "颗粒剂");
const SOLUTION: (&str, &str) = ("05", "口服溶液剂");
const PILL: (&str, &str) = ("06", "丸剂");
const OINTMENT: (&str, &str) = ("07", "软膏剂");

#[rustfmt::skip]
const DRUGS: &[Drug] = &[
    d("阿莫西林胶囊", "J01CAA", "阿莫西林", "Amoxicillin Capsules", CAPSULE, false, "0.25g*24粒", "粒", 24, "盒"),
    d("头孢克肟片", "J01DDC", "头孢克肟", "Cefixime Tablets", TABLET, false, "0.1g*6片", "片", 6, "盒"),
    d("布洛芬缓释胶囊", "M01AEB", "布洛芬", "Ibuprofen Sustained-release Capsules", CAPSULE, false, "0.3g*20粒", "粒", 20, "盒"),
    d("盐酸二甲双胍片", "A10BAB", "盐酸二甲双胍", "Metformin Hydrochloride Tablets", TABLET, false, "0.5g*48片", "片", 48, "盒"),
    d("硝苯地平控释片", "C08CAH", "硝苯地平", "Nifedipine Controlled-release Tablets", TABLET, false, "30mg*7片", "片", 7, "盒"),
    d("阿托伐他汀钙片", "C10AAA", "阿托伐他汀钙", "Atorvastatin Calcium Tablets", TABLET, false, "20mg*7片", "片", 7, "盒"),
    d("奥美拉唑肠溶胶囊", "A02BCA", "奥美拉唑", "Omeprazole Enteric-coated Capsules", CAPSULE, false, "20mg*14粒", "粒", 14, "盒"),
    d("氯化钠注射液", "B05XAC", "氯化钠", "Sodium Chloride Injection", INJECTION, false, "0.9%*250ml", "瓶", 1, "瓶"),
    d("维生素C片", "A11GAA", "抗坏血酸", "Vitamin C Tablets", TABLET, false, "0.1g*100片", "片", 100, "瓶"),
    d("复方甘草口服溶液", "R05CAF", "", "Compound Liquorice Oral Solution", SOLUTION, false, "100ml", "瓶", 1, "瓶"),
    d("胰岛素注射液", "A10ABA", "胰岛素", "Insulin Injection", INJECTION, false, "10ml:400单位", "支", 1, "支"),
    d("红霉素软膏", "D06AXA", "红霉素", "Erythromycin Ointment", OINTMENT, false, "1%*10g", "支", 1, "支"),
    d("连花清瘟胶囊", "ZA01AA", "", "Lianhua Qingwen Capsules", CAPSULE, true, "0.35g*24粒", "粒", 24, "盒"),
    d("板蓝根颗粒", "ZA01BB", "", "Banlangen Granules", GRANULE, true, "10g*20袋", "袋", 20, "包"),
    d("六味地黄丸", "ZA09FA", "", "Liuwei Dihuang Pills", PILL, true, "0.2g*120丸", "丸", 120, "瓶"),
    d("复方丹参滴丸", "ZA12EA", "", "Compound Danshen Dripping Pills", PILL, true, "27mg*180丸", "丸", 180, "瓶"),
];

const MAKERS: &[&str] = &[
    "湘江制药有限公司",
    "岳麓药业股份有限公司",
    "洞庭生物制药有限公司",
    "星城制药（长沙）有限公司",
    "橘洲医药科技有限公司",
    "麓山中药饮片有限公司",
];

fn drug(r: &mut Row<'_>, infno: &str, i: usize, n: usize) {
    let k = i % DRUGS.len();
    let g = &DRUGS[k];
    let maker = MAKERS[(i / DRUGS.len()) % MAKERS.len()];
    let (ty, ty_name, letter) = if g.tcm {
        ("12", "中成药", 'Z')
    } else {
        ("11", "西药", 'H')
    };
    r.f(format_args!("X{}A{n:015}", g.atc))
        .f(format_args!("{}（测试 {n}）", g.name))
        .f(format_args!("{:05}", 10_001 + k))
        .f(g.name)
        .f(g.chem)
        .f("")
        .f(g.eng)
        .f(g.name)
        .f(format_args!("869{n:011}"))
        .f(g.form.0)
        .f(g.form.1)
        .f(ty)
        .f(ty_name)
        .f(g.spec)
        .f(g.unit)
        .f(g.pack)
        .f(g.count)
        .f(g.pack)
        .f(maker)
        .f(format_args!("国药准字{letter}{:08}", 20_000_000 + n))
        .f("1")
        .f(format_args!("{infno}{n:016}"));
}

/// (名称, 药用部位, 安全计量, 性味, 归经)
#[rustfmt::skip]
const HERBS: &[(&str, &str, &str, &str, &str)] = &[
    ("黄芪", "根", "9～30g", "甘，微温", "归肺、脾经"),
    ("当归", "根", "6～12g", "甘、辛，温", "归肝、心、脾经"),
    ("甘草", "根和根茎", "2～10g", "甘，平", "归心、肺、脾、胃经"),
    ("白术", "根茎", "6～12g", "苦、甘，温", "归脾、胃经"),
    ("茯苓", "菌核", "10～15g", "甘、淡，平", "归心、肺、脾、肾经"),
    ("党参", "根", "9～30g", "甘，平", "归脾、肺经"),
    ("枸杞子", "果实", "6～12g", "甘，平", "归肝、肾经"),
    ("金银花", "花蕾", "6～15g", "甘，寒", "归肺、心、胃经"),
];

fn herb(r: &mut Row<'_>, infno: &str, i: usize, n: usize) {
    let (name, part, dose, taste, meridian) = HERBS[i % HERBS.len()];
    r.f(format_args!("T{n:012}"))
        .f(format_args!("{name}（测试 {n}）"))
        .f("0")
        .f(if i.is_multiple_of(2) {
            "一等"
        } else {
            "统货"
        })
        .f(part)
        .f(dose)
        .f("水煎服")
        .f(taste)
        .f(meridian)
        .f("饮片")
        .f("2026-01-01")
        .f("")
        .f("1")
        .f(format_args!("{infno}{n:016}"));
}

/// (名称, 计价单位, 说明, 服务项目类别)
#[rustfmt::skip]
const SERVICES: &[(&str, &str, &str, &str)] = &[
    ("一般诊疗费", "次", "含挂号、诊查", "01"),
    ("静脉输液", "组", "含输液器", "02"),
    ("血常规检查", "项", "五分类", "03"),
    ("肝功能检查", "项", "含ALT、AST", "03"),
    ("胸部X线摄影", "次", "正位", "04"),
    ("心电图检查", "次", "十二导联", "04"),
    ("床位费", "日", "三人间", "05"),
    ("针刺", "次", "含普通针刺", "06"),
    ("大换药", "次", "创面≥10cm²", "02"),
    ("彩色多普勒超声检查", "部位", "含图文报告", "04"),
];

fn service(r: &mut Row<'_>, infno: &str, i: usize, n: usize) {
    let (name, unit, about, kind) = SERVICES[i % SERVICES.len()];
    r.f(format_args!("{:015}", 1_101_000_000_000u64 + n as u64))
        .f(unit)
        .f(unit)
        .f(about)
        .f("")
        .f("")
        .f("1")
        .f("")
        .f(kind)
        .f(format_args!("{name}（测试 {n}）"))
        .f("")
        .f("2026-01-01")
        .f("")
        .f(format_args!("{infno}{n:016}"));
}

/// (通用名, 型号, 规格, 材质, 单位, 高值)
#[rustfmt::skip]
const CONSUMABLES: &[(&str, &str, &str, &str, &str, bool)] = &[
    ("一次性使用无菌注射器", "带针", "5ml", "聚丙烯", "支", false),
    ("医用外科口罩", "挂耳式", "17.5cm×9.5cm", "无纺布", "个", false),
    ("一次性使用输液器", "重力式", "0.7mm", "聚氯乙烯", "套", false),
    ("医用纱布块", "8层", "8cm×10cm", "脱脂棉纱布", "块", false),
    ("冠状动脉药物洗脱支架", "快速交换", "3.0mm×18mm", "钴铬合金", "个", true),
    ("人工髋关节假体", "生物型", "股骨柄 3#", "钛合金", "套", true),
    ("医用胶带", "透气型", "1.25cm×9.1m", "聚乙烯", "卷", false),
    ("一次性使用导尿管", "双腔", "F16", "硅橡胶", "根", false),
];

fn consumable(r: &mut Row<'_>, infno: &str, i: usize, n: usize) {
    let k = i % CONSUMABLES.len();
    let (name, model, spec, matl, unit, high) = CONSUMABLES[k];
    let maker = MAKERS[(i / CONSUMABLES.len()) % 5];
    r.f(format_args!("C{n:019}"))
        .f(format_args!("{name}（测试 {n}）"))
        .f(format_args!("069{n:011}"))
        .f(format_args!("C{:010}", 1_001 + k))
        .f(name)
        .f(model)
        .f(spec)
        .f(matl)
        .f(unit)
        .f(unit)
        .f(if high { "1" } else { "0" })
        .f(maker)
        .f("1")
        .f(format_args!("{infno}{n:016}"));
}

/// The name stem of the catalogs without a dedicated generator.
const STEMS: &[(&str, &str)] = &[
    ("1303", "医疗机构制剂"),
    ("1307", "疾病诊断"),
    ("1308", "手术操作"),
    ("1309", "门诊慢特病种"),
    ("1310", "按病种付费病种"),
    ("1311", "日间手术治疗病种"),
    ("1313", "肿瘤形态学"),
    ("1314", "中医疾病"),
    ("1315", "中医证候"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_row_has_its_columns_and_no_stray_separator() {
        for infno in crate::catalogs::FILE_CATALOGS {
            let mut text = String::new();
            for i in 0..200 {
                write_row(infno, i, "20261101-001", &mut text);
            }
            let want = columns(infno).len();
            assert_eq!(text.lines().count(), 200, "{infno}");
            for line in text.lines() {
                assert!(!line.contains('\r'), "{infno}: {line}");
                let fields: Vec<&str> = line.split('\t').collect();
                assert_eq!(fields.len(), want, "{infno}: {line}");
                assert_eq!(fields[want - 1], "20261101-001");
                assert!(
                    !fields[1].is_empty() && !fields[1].is_ascii(),
                    "{infno}: {line}"
                );
            }
        }
    }

    #[test]
    fn the_first_drug_row() {
        let mut text = String::new();
        write_row("1301", 0, "20261101-001", &mut text);
        assert_eq!(
            text,
            "XJ01CAAA000000000000001\t阿莫西林胶囊（测试 1）\t10001\t阿莫西林胶囊\t阿莫西林\t\t\
             Amoxicillin Capsules\t阿莫西林胶囊\t86900000000001\t02\t胶囊剂\t11\t西药\t\
             0.25g*24粒\t粒\t盒\t24\t盒\t湘江制药有限公司\t国药准字H20000001\t1\t\
             13010000000000000001\t20261101-001\n"
        );
    }
}
